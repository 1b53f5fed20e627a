//! ElastiCache IAM authentication, against a real redis-server's ACL: the cache's user for the
//! origin holds token-shaped passwords (the tokens the origin's credentials sign, one for each
//! second around now, since a token signs the second it is made in) and the access string of
//! deploy/elasticache.yaml; the default user needs a password only the test knows. The L2
//! connects with a fresh token, and its reads, leases and scripts work under that access
//! string; other credentials, or none, are refused.

#[macro_use]
mod common;

use std::time::{Duration, SystemTime};

use aws_credential_types::provider::SharedCredentialsProvider;
use aws_credential_types::Credentials;
use common::RedisServer;
use origin_function::config::{Config, RedisIam};
use origin_function::l2::redis::RedisL2;
use origin_function::l2::redis_iam::auth_token;
use origin_function::l2::L2;

const ADMIN_PASSWORD: &str = "only-the-test-knows-this";

fn iam() -> RedisIam {
    RedisIam {
        user: "edge-cache-l2-origin".into(),
        cache: "edge-cache-l2".into(),
        region: "us-east-1".into(),
    }
}

fn role_credentials(secret: &str) -> Credentials {
    Credentials::new("ASIAEXAMPLE", secret, Some("role-session-token".into()), None, "test")
}

/// The origin user's access string in deploy/elasticache.yaml (ElastiCache RBAC access strings
/// are Redis ACL rules).
fn deployed_access_string() -> Vec<String> {
    let template = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../deploy/elasticache.yaml"))
        .expect("deploy/elasticache.yaml");
    let line = template
        .lines()
        .map(str::trim)
        .find(|l| l.starts_with("AccessString: \"on "))
        .expect("the origin user's AccessString");
    let rules = line.trim_start_matches("AccessString: ").trim_matches('"');
    rules.split_whitespace().map(str::to_owned).collect()
}

async fn admin(server: &RedisServer) -> redis::aio::MultiplexedConnection {
    redis::Client::open(server.url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap()
}

/// The cache's users as deploy/elasticache.yaml makes them, on redis-server.
async fn with_iam_user(server: &RedisServer, credentials: &Credentials) -> redis::aio::MultiplexedConnection {
    let mut conn = admin(server).await;
    let now = SystemTime::now();
    let mut setuser = redis::cmd("ACL");
    setuser.arg("SETUSER").arg(&iam().user).arg("reset");
    for rule in deployed_access_string() {
        setuser.arg(rule);
    }
    for second in 0..=120 {
        let at = now - Duration::from_secs(10) + Duration::from_secs(second);
        setuser.arg(format!(">{}", auth_token(&iam(), credentials, at).unwrap()));
    }
    let _: () = setuser.query_async(&mut conn).await.unwrap();
    // An unauthenticated connection is `default`: from now on it needs a password (the cache
    // switches it off altogether). This connection stays authenticated.
    let _: () = redis::cmd("ACL")
        .arg("SETUSER")
        .arg("default")
        .arg("resetpass")
        .arg(format!(">{ADMIN_PASSWORD}"))
        .query_async(&mut conn)
        .await
        .unwrap();
    conn
}

fn l2(server: &RedisServer, credentials: Option<Credentials>) -> RedisL2 {
    let config = Config {
        redis_url: Some(server.url()),
        redis_iam: credentials.is_some().then(iam),
        redis_command_timeout: Duration::from_secs(2),
        ..Config::default()
    };
    RedisL2::with_credentials(&config, credentials.map(SharedCredentialsProvider::new)).unwrap()
}

#[tokio::test]
async fn the_l2_connects_with_a_token_its_credentials_sign() {
    let server = RedisServer::start();
    let credentials = role_credentials("the-role-secret");
    let mut conn = with_iam_user(&server, &credentials).await;

    let cache = l2(&server, Some(credentials));
    cache.connect().await.expect("connect with the IAM token");
    // A lease (SET NX PX), its release (a script: GET, DEL) and a read (HGETALL), all under the
    // deployed access string.
    assert!(cache.try_lease("digest", "me", 0, 5_000).await.unwrap());
    assert!(!cache.try_lease("digest", "other", 0, 5_000).await.unwrap());
    cache.release_lease("digest", "me").await.unwrap();
    assert!(cache.try_lease("digest", "other", 0, 5_000).await.unwrap());
    assert!(cache.get("digest", false).await.unwrap().is_none());

    let clients: String = redis::cmd("CLIENT").arg("LIST").query_async(&mut conn).await.unwrap();
    assert!(clients.contains(&format!("user={}", iam().user)), "{clients}");
}

#[tokio::test]
async fn other_credentials_or_none_are_refused() {
    let server = RedisServer::start();
    let _admin = with_iam_user(&server, &role_credentials("the-role-secret")).await;

    let impostor = l2(&server, Some(role_credentials("another-secret")));
    let err = impostor.connect().await.unwrap_err().to_string();
    assert!(err.to_lowercase().contains("authentication failed"), "{err}");

    let anonymous = l2(&server, None);
    let err = anonymous.connect().await.unwrap_err().to_string();
    assert!(err.to_lowercase().contains("noauth"), "{err}");
}

#[test]
fn an_iam_configuration_without_credentials_does_not_start() {
    let config = Config {
        redis_url: Some("rediss://cache.example:6379".into()),
        redis_iam: Some(iam()),
        ..Config::default()
    };
    let err = RedisL2::with_credentials(&config, None).unwrap_err().to_string();
    assert!(err.contains("ORIGIN_REDIS_IAM_USER"), "{err}");
}
