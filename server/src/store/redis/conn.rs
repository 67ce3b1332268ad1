//! The two ways to reach Redis, behind one command connection: one primary (a reconnecting `ConnectionManager`) or a
//! Redis Cluster (redis-rs's cluster connection: routes each command by its first key, follows `MOVED`/`ASK`, finds
//! the new primary after a failover); and the subscription side of each (`SUBSCRIBE` on one connection, or sharded
//! `SSUBSCRIBE` on the cluster connection's one connection per node, whose messages come as RESP3 pushes).

use redis::aio::{ConnectionLike, ConnectionManager, PubSubSink};
use redis::cluster_async::ClusterConnection;
use redis::cluster_routing::{
    MultipleNodeRoutingInfo, ResponsePolicy, Route, RoutingInfo, SingleNodeRoutingInfo, SlotAddr,
};
use redis::{Cmd, Pipeline, RedisFuture, RedisResult, Value};

/// Commands: one primary, or a cluster.
#[derive(Clone)]
pub(super) enum Conn {
    Single(ConnectionManager),
    Cluster(ClusterConnection),
}

impl ConnectionLike for Conn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Conn::Single(c) => c.req_packed_command(cmd),
            Conn::Cluster(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Conn::Single(c) => c.req_packed_commands(pipeline, offset, count),
            Conn::Cluster(c) => c.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Conn::Single(c) => c.get_db(),
            Conn::Cluster(c) => c.get_db(),
        }
    }
}

impl Conn {
    /// Runs `cmd`, which names no key, on the primary that holds `key`'s slot (`WAIT` after a script: it counts the
    /// replicas of the node the script ran on).
    pub(super) async fn on_node_of(&mut self, key: &str, cmd: Cmd) -> RedisResult<Value> {
        match self {
            Conn::Single(c) => cmd.query_async(c).await,
            Conn::Cluster(c) => {
                let route = Route::with_key(key.as_bytes(), SlotAddr::Master);
                c.route_command(cmd, RoutingInfo::SingleNode(SingleNodeRoutingInfo::SpecificNode(route))).await
            }
        }
    }
}

/// `PING` to every primary a cluster connection routes to now: fails (a timeout) while one of them does not answer,
/// which nothing else tells when a node stops answering without closing its connections (a hung process, a network
/// path gone silent): redis-rs then keeps routing to it, since only a lost connection or a `MOVED` makes it look again.
pub(super) async fn ping_primaries(conn: &mut ClusterConnection) -> RedisResult<()> {
    let routing = RoutingInfo::MultiNode((MultipleNodeRoutingInfo::AllMasters, Some(ResponsePolicy::AllSucceeded)));
    conn.route_command(redis::cmd("PING"), routing).await.map(|_| ())
}

/// Subscriptions: `SUBSCRIBE` on the one primary's subscription connection, or `SSUBSCRIBE` through the cluster
/// connection (to the primary that holds the channel's slot; redis-rs subscribes again after a reconnect).
pub(super) enum LiveConn {
    Single(PubSubSink),
    Cluster(ClusterConnection),
}

impl LiveConn {
    pub(super) async fn subscribe(&mut self, channel: &str) -> RedisResult<()> {
        match self {
            LiveConn::Single(s) => s.subscribe(channel).await,
            LiveConn::Cluster(c) => c.ssubscribe(channel).await,
        }
    }

    pub(super) async fn unsubscribe(&mut self, channel: &str) -> RedisResult<()> {
        match self {
            LiveConn::Single(s) => s.unsubscribe(channel).await,
            LiveConn::Cluster(c) => c.sunsubscribe(channel).await,
        }
    }
}
