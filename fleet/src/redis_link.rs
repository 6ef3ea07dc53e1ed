//! Redis connections that outlast slow moments and Redis restarts: commands wait up to
//! [`RESPONSE_TIMEOUT`] for an answer (the client's default of 500 ms failed scans on a busy 2-core
//! machine), and a subscription that drops with the server is made again, so "layer done" and scan
//! events keep flowing after a restart. Messages published while it was down are lost; the readers of
//! both channels re-check on their own (the fan-out's periodic re-check, watchers' re-reads).

use std::time::Duration;

use futures_util::StreamExt;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};

use crate::Result;

pub const RESPONSE_TIMEOUT: Duration = Duration::from_secs(10);

/// A multiplexed connection that reconnects by itself.
pub async fn manager(client: &redis::Client) -> Result<ConnectionManager> {
    let config = ConnectionManagerConfig::new()
        .set_response_timeout(Some(RESPONSE_TIMEOUT))
        .set_connection_timeout(Some(Duration::from_secs(5)));
    Ok(ConnectionManager::new_with_config(client.clone(), config).await?)
}

/// Calls `sink` with every message on `channel`, for as long as the process lives. Returns once
/// subscribed, so nothing published after the call is missed (unless Redis goes away).
pub async fn listen(client: redis::Client, channel: String, sink: impl Fn(redis::Msg) + Send + 'static) -> Result<()> {
    let mut pubsub = client.get_async_pubsub().await?;
    pubsub.subscribe(&channel).await?;
    tokio::spawn(async move {
        let mut current = Some(pubsub);
        let mut delay = Duration::from_millis(100);
        loop {
            if let Some(pubsub) = current.take() {
                let mut messages = pubsub.into_on_message();
                while let Some(message) = messages.next().await {
                    sink(message);
                }
                tracing::warn!(%channel, "lost the Redis subscription; subscribing again");
            }
            tokio::time::sleep(delay).await;
            if let Ok(mut pubsub) = client.get_async_pubsub().await
                && pubsub.subscribe(&channel).await.is_ok()
            {
                tracing::info!(%channel, "subscribed again");
                current = Some(pubsub);
                delay = Duration::from_millis(100);
            } else {
                delay = (delay * 2).min(Duration::from_secs(5));
            }
        }
    });
    Ok(())
}
