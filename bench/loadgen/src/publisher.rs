//! The publisher: keep-alive `POST /update` connections, each event carrying its send timestamp.

use std::net::SocketAddr;
use std::sync::atomic::Ordering::Relaxed;

use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _};
use tokio::net::TcpStream;

use crate::{Res, TEXT_LEN};

/// A publisher's connection: plain TCP or TLS.
pub(crate) trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// A publisher's connection to `server`: over TLS (ALPN `http/1.1`) when the server measured now is HTTPS.
pub(crate) async fn connect(server: SocketAddr) -> Res<Box<dyn Io>> {
    let tcp = TcpStream::connect(server).await?;
    tcp.set_nodelay(true)?;
    Ok(if crate::tls::HTTPS.load(Relaxed) {
        Box::new(crate::tls::http1().connect(crate::tls::server_name(), tcp).await?)
    } else {
        Box::new(tcp)
    })
}

pub(crate) struct Publisher {
    pub(crate) stream: Box<dyn Io>,
    pub(crate) server: SocketAddr,
    pub(crate) buf: Vec<u8>,
    pub(crate) body: String,
}

impl Publisher {
    pub(crate) async fn new(server: SocketAddr) -> Res<Self> {
        let stream = connect(server).await?;
        Ok(Publisher { stream, server, buf: Vec::with_capacity(4096), body: String::with_capacity(128) })
    }

    /// Publishes one event whose text carries `t=<stamp>` padded to [`TEXT_LEN`].
    pub(crate) async fn publish(&mut self, stamp: u64) -> Res<()> {
        use std::fmt::Write as _;
        let mut text = format!("t={stamp};");
        while text.len() < TEXT_LEN {
            text.push('x');
        }
        self.body.clear();
        write!(self.body, "{{\"text\":\"{text}\"}}")?;
        let req = format!(
            "POST /update HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{}",
            self.server,
            self.body.len(),
            self.body
        );
        self.stream.write_all(req.as_bytes()).await?;
        // Read one response: head, then Content-Length bytes.
        loop {
            if let Some(end) = self.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&self.buf[..end]).to_ascii_lowercase();
                // 200 from ours and the floors; Nchan answers 201 Created (some subscriber) or 202 Accepted (none).
                if !head.starts_with("http/1.1 2") {
                    return Err(format!("publish failed: {}", head.lines().next().unwrap_or("")).into());
                }
                let len: usize = head
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length:"))
                    .and_then(|v| v.trim().parse().ok())
                    .unwrap_or(0);
                if len == 0 && head.contains("transfer-encoding: chunked") {
                    return Err("chunked publish responses are not supported".into());
                }
                let total = end + 4 + len;
                while self.buf.len() < total {
                    self.read_more().await?;
                }
                self.buf.drain(..total);
                return Ok(());
            }
            self.read_more().await?;
        }
    }

    pub(crate) async fn read_more(&mut self) -> Res<()> {
        let mut tmp = [0u8; 4096];
        let n = self.stream.read(&mut tmp).await?;
        if n == 0 {
            return Err("publisher connection closed".into());
        }
        self.buf.extend_from_slice(&tmp[..n]);
        Ok(())
    }
}
