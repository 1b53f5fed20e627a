//! The edge as one running thing: it binds, builds the state every request shares
//! ([`crate::state`]) and serves the listener ([`crate::listener`]) until it is stopped.

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::TcpListener;

use crate::config::EdgeConfig;
use crate::error::EdgeError;
use crate::listener::serve;
use crate::origin::OriginPool;
use crate::state::State;

/// A running edge.
pub struct Edge {
    state: Arc<State>,
    addr: SocketAddr,
    server: tokio::task::JoinHandle<()>,
    /// CloudFront's invalidation API (and Lambda's `Invoke`), when served.
    aws_api: Option<(SocketAddr, tokio::task::JoinHandle<()>)>,
}

impl Edge {
    /// Binds and serves, in front of `origin`, until [`Edge::stop`].
    pub async fn start(config: EdgeConfig, origin: Arc<OriginPool>) -> Result<Edge, EdgeError> {
        let bind_error = |source| EdgeError::Bind {
            addr: config.listen.to_string(),
            source,
        };
        let listener = TcpListener::bind(config.listen).await.map_err(bind_error)?;
        let addr = listener.local_addr().map_err(bind_error)?;
        let aws_listener = match config.aws_api_listen {
            Some(at) => {
                let bind_error = |source| EdgeError::Bind {
                    addr: at.to_string(),
                    source,
                };
                let listener = TcpListener::bind(at).await.map_err(bind_error)?;
                let bound = listener.local_addr().map_err(bind_error)?;
                Some((listener, bound))
            }
            None => None,
        };
        let state = Arc::new(State::new(config, origin));
        let server = serve(listener, state.clone());
        let aws_api = aws_listener.map(|(listener, bound)| (bound, crate::aws_api::serve(listener, state.clone())));
        Ok(Edge {
            state,
            addr,
            server,
            aws_api,
        })
    }

    /// Where CloudFront's invalidation API is served, if it is.
    pub fn aws_api_addr(&self) -> Option<SocketAddr> {
        self.aws_api.as_ref().map(|(addr, _)| *addr)
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops serving and ends the handler's process (the origin pool is its owner's).
    pub async fn stop(self) {
        self.server.abort();
        if let Some((_, api)) = &self.aws_api {
            api.abort();
        }
        self.state.triggers.shutdown().await;
    }
}
