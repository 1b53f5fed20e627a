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
        let state = Arc::new(State::new(config, origin));
        let server = serve(listener, state.clone());
        Ok(Edge { state, addr, server })
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops serving and ends the handler's process (the origin pool is its owner's).
    pub async fn stop(self) {
        self.server.abort();
        self.state.triggers.shutdown().await;
    }
}
