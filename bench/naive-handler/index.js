'use strict';
// The seed's Lambda@Edge handler, kept only as the replay's "naive" baseline (make
// bench-replay). No normalization: CloudFront keys `uri + '?' + querystring` as the viewer
// sent them. On origin-response it writes Cache-Control with an object literal that holds
// the key 'cache-control' twice, so only the last entry survives: `public, max-age=3600`
// silently vanishes. Responses the origin marked private/no-store are left alone, so the
// comparison measures keys and headers, not a privacy leak.
exports.handler = async (event) => {
  const cf = event.Records[0].cf;
  if (cf.config.eventType !== 'origin-response') {
    return cf.config.eventType.startsWith('viewer-response') ? cf.response : cf.request;
  }
  const response = cf.response;
  const current = (response.headers['cache-control'] || []).map((h) => h.value).join(', ');
  if (/private|no-store/.test(current)) return response;
  response.headers = {
    ...response.headers,
    // eslint-disable-next-line no-dupe-keys
    'cache-control': [{ key: 'Cache-Control', value: 'public, max-age=3600' }],
    // eslint-disable-next-line no-dupe-keys
    'cache-control': [{ key: 'Cache-Control', value: 's-maxage=300, stale-while-revalidate=86400' }],
  };
  return response;
};
