//! HTTP/1.1 event streams without hyper's connection buffers.
//!
//! hyper's HTTP/1 connection keeps, for as long as it lives, an 8 KiB read buffer and an 8 KiB header-write buffer
//! (neither can be configured smaller nor freed), plus its own state: about 8 KB of resident memory per idle event
//! stream that a stream never uses again once its response head is written. So a plain (or TLS `http/1.1`)
//! connection starts here instead:
//!
//! 1. The request head is read into a small buffer (grown up to `--max-header-bytes`) and parsed with `httparse`,
//!    within `--idle-timeout-secs` (the connection closes past it, or at shutdown, as hyper's would).
//! 2. A `GET` over HTTP/1.1 that asks for `text/event-stream` and has no body is built into an `http::Request` and
//!    served by the **same** router (host check, auth, CORS, budgets, metrics: every layer applies), with the
//!    connection's [`ClientAddr`]. Its response is written here: the head (`http` types; `Content-Length` when the
//!    body's size is known, else chunked, `date`, `connection: close` when closing), then each body chunk straight
//!    from the body to the socket (one vectored write per chunk, no buffer kept between chunks). The parser's buffer
//!    and the response headers are dropped before the body is polled, so an idle stream holds only its socket, its
//!    body and this task. The SSE frames themselves come from [`crate::sse`] (`sse-codec`), unchanged.
//! 3. Anything else (another method or protocol version, a body, an upgrade, a head this parser refuses or that
//!    passes the limit) goes to hyper, which gets the bytes read so far first ([`Rewind`]) and serves the rest of
//!    the connection exactly as before (431, 400, keep-alive, pipelining). A keep-alive request after a stream that
//!    ended is read here again.
//! 4. Requests pipelined behind a streaming response are read while it streams (to see the client leave) and kept,
//!    up to `--max-header-bytes`; past that, reading pauses until the response ends, as in hyper, and every request
//!    is answered in order afterwards.
//!
//! Unchanged: a write blocked past `--write-stall-secs` fails in [`crate::net::StallIo`] and drops the connection;
//! a client that closes its side is seen at once (its stream is dropped, as hyper does); at shutdown every stream
//! ends with its last chunk and the connection closes.

use std::future::poll_fn;
use std::io::{self, Write as _};
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::body::{Body, HttpBody as _};
use axum::http::{header, HeaderMap, Method, Request, StatusCode, Uri, Version};
use bytes::{Buf as _, BufMut as _, Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _, ReadBuf};
use tower::ServiceExt as _;
use tower_http::add_extension::AddExtension;

use super::{Gauge, Shared};
use crate::net::ClientAddr;

/// Most request headers (hyper's default; more goes to hyper, which answers 431).
const MAX_HEADERS: usize = 100;
/// The first read of a request head (the buffer grows up to `--max-header-bytes`, and is freed once parsed).
const HEAD_READ: usize = 1024;
/// Bytes read at a time while a response streams, only to see the client leave (on the stack, not kept).
const PROBE_READ: usize = 256;
/// How long closing the connection (TLS `close_notify`) may take.
const CLOSE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(1);

/// Why a connection served here ended early.
#[derive(Debug, thiserror::Error)]
pub(super) enum StreamError {
    #[error(transparent)]
    Io(#[from] io::Error),
    #[error("the client closed the connection")]
    ClientClosed,
    #[error("the response body failed: {0}")]
    Body(axum::Error),
}

/// A connection's I/O, boxed when it moves to the main runtime: one type for every moved connection.
trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// Serves the rest of the connection on the main runtime, from the request in `buf` (read again there); shutdown
/// still waits for it. (Spawned from here rather than returned to the caller, and `buf` handed over inside the I/O
/// rather than as an argument: either would make every stream's task larger.)
fn move_to_main<I>(io: I, buf: BytesMut, shared: Arc<Shared>, addr: SocketAddr, gauge: Gauge)
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let io: Rewind<Box<dyn Io>> = Rewind::new(Box::new(io), buf.freeze());
    let tracked = shared.tracker.token();
    let main = shared.main.clone();
    main.spawn(async move {
        let _tracked = tracked;
        serve(io, shared, addr, gauge, false).await;
    });
}

/// Serves one HTTP/1.1 connection: event-stream requests here, the rest of the connection by hyper as soon as
/// another request comes. A connection started on the [streams runtime](super::streams) (`leave`) [moves
/// itself](move_to_main) to the main runtime with its first request that is not an event stream, and is served
/// there to its end.
pub(super) async fn serve<I>(mut io: I, shared: Arc<Shared>, addr: SocketAddr, gauge: Gauge, leave: bool)
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    // Bytes read past the last request head (pipelined requests); empty (no allocation) while a stream is idle.
    let mut buf = BytesMut::new();
    loop {
        // Boxed: reading the head and calling the router are not part of this task's state, which is then only what
        // a streaming response needs.
        let next = Box::pin(next_response(&mut io, &mut buf, &shared, addr)).await;
        let (head, body, framing, close) = match next {
            Next::Respond(Ready { head, body, framing, close }) => (head, body, framing, close),
            Next::Pipeline | Next::Hyper if leave => return move_to_main(io, buf, shared, addr, gauge),
            Next::Pipeline => match Box::pin(super::pipeline::serve(&mut io, &mut buf, &shared, addr)).await {
                Ok(super::pipeline::After::Next) => continue,
                Ok(super::pipeline::After::Close) => {
                    let _ = tokio::time::timeout(CLOSE_TIMEOUT, io.shutdown()).await;
                    return;
                }
                Err(e) => {
                    tracing::debug!(error = %e, "pipelined requests: connection ended");
                    return;
                }
            },
            Next::Hyper => break,
            Next::Close => return,
        };
        if let Err(e) = stream(&mut io, head, body, framing, &mut buf, shared.config.max_header_bytes).await {
            tracing::debug!(error = %e, "event-stream connection ended");
            return;
        }
        if close || shared.shutdown.is_cancelled() {
            let _ = tokio::time::timeout(CLOSE_TIMEOUT, io.shutdown()).await;
            return;
        }
    }
    let serving = Box::pin(super::h1::hyper_http1(Rewind::new(io, buf.freeze()), &shared, addr, false, gauge));
    serving.await;
}

/// A response to write: `head` (status line and headers), then `body` in `framing`.
#[derive(Debug)]
pub(super) struct Ready {
    pub(super) head: Vec<u8>,
    pub(super) body: Body,
    pub(super) framing: Framing,
    pub(super) close: bool,
}

/// What to do next on a connection.
#[derive(Debug)]
pub(super) enum Next {
    /// Close it.
    Close,
    /// Hand it to hyper (the request is still in the buffer).
    Hyper,
    /// Answer the short requests at the start of the buffer ([`super::pipeline`]).
    Pipeline,
    /// Write this response.
    Respond(Ready),
}

/// Reads the next request head (within the idle timeout; none at shutdown) and, for an event-stream request, calls
/// the router.
async fn next_response<I: AsyncRead + Unpin>(
    io: &mut I,
    buf: &mut BytesMut,
    shared: &Shared,
    addr: SocketAddr,
) -> Next {
    let read = tokio::time::timeout(
        shared.config.idle_timeout,
        read_head(io, buf, shared.config.max_header_bytes, shared.max_body_bytes),
    );
    let head = tokio::select! {
        r = read => r,
        () = shared.shutdown.cancelled() => return Next::Close,
    };
    let (req, close) = match head {
        Ok(Ok(Head::EventStream { req, close })) => (req, close),
        Ok(Ok(Head::Other)) => return Next::Hyper,
        Ok(Ok(Head::Short)) => return Next::Pipeline,
        Ok(Ok(Head::Eof)) => return Next::Close,
        Ok(Err(e)) => {
            tracing::debug!(error = %e, "reading a request head failed");
            return Next::Close;
        }
        Err(_) => {
            tracing::debug!("no request head within the idle timeout; closing");
            return Next::Close;
        }
    };
    call(shared, addr, *req, close).await
}

/// Calls the router with `req` (every layer applies, with the connection's [`ClientAddr`]); the response to write.
pub(super) fn call(
    shared: &Shared,
    addr: SocketAddr,
    req: Request<Body>,
    close: bool,
) -> impl std::future::Future<Output = Next> + Send + 'static {
    let service = AddExtension::new(shared.app.clone(), ClientAddr(addr));
    let shutdown = shared.shutdown.clone();
    async move {
        let Ok(res) = service.oneshot(req).await;
        respond(res, close || shutdown.is_cancelled())
    }
}

/// `res` as a head to write and a body in its framing.
pub(super) fn respond(res: axum::response::Response, close: bool) -> Next {
    let close = close || wants_close(res.headers());
    let (parts, body) = res.into_parts();
    let status = parts.status;
    let framing = if status.is_informational() || status == StatusCode::NO_CONTENT || status == StatusCode::NOT_MODIFIED
    {
        Framing::None
    } else if parts.headers.contains_key(header::CONTENT_LENGTH) || body.size_hint().exact().is_some() {
        Framing::Length
    } else {
        Framing::Chunked
    };
    let head = encode_head(status, &parts.headers, framing, body.size_hint().exact(), close);
    Next::Respond(Ready { head, body, framing, close })
}

/// What [`read_head`] found.
#[derive(Debug)]
enum Head {
    /// The client closed the connection before a complete request head.
    Eof,
    /// A request served here.
    EventStream { req: Box<Request<Body>>, close: bool },
    /// A short request for the pipeline (still in the buffer, its body possibly not all read).
    Short,
    /// A request for hyper (still in the buffer).
    Other,
}

/// Reads until `buf` starts with a complete request head (or one this module leaves to hyper).
async fn read_head<I: AsyncRead + Unpin>(
    io: &mut I,
    buf: &mut BytesMut,
    limit: usize,
    max_body: usize,
) -> io::Result<Head> {
    loop {
        if !buf.is_empty() {
            match parse(buf, max_body) {
                Parsed::Partial if buf.len() < limit => {}
                Parsed::Partial | Parsed::Other => return Ok(Head::Other),
                Parsed::Short { .. } => return Ok(Head::Short),
                Parsed::EventStream { req, close, len } => {
                    // Keep only what follows the head, in a buffer of its own (none at all when nothing follows).
                    let rest = &buf[len..];
                    *buf = if rest.is_empty() { BytesMut::new() } else { BytesMut::from(rest) };
                    return Ok(Head::EventStream { req, close });
                }
            }
        }
        buf.reserve(HEAD_READ.max(buf.len()).min(limit.saturating_sub(buf.len()).max(1)));
        if io.read_buf(buf).await? == 0 {
            return Ok(Head::Eof);
        }
    }
}

/// What [`parse`] found.
#[derive(Debug)]
pub(super) enum Parsed {
    Partial,
    Other,
    EventStream {
        req: Box<Request<Body>>,
        close: bool,
        len: usize,
    },
    /// A request with a body of `body` bytes (`Content-Length`, at most the body limit) after the head's `len`
    /// bytes: answered by [`super::pipeline`] (its `req` has no body yet).
    Short {
        req: Box<Request<Body>>,
        close: bool,
        len: usize,
        body: usize,
    },
}

/// Methods whose requests [`super::pipeline`] answers (with a `Content-Length` body, possibly empty).
const SHORT_METHODS: [&str; 4] = ["POST", "PUT", "PATCH", "DELETE"];

/// Parses the request head at the start of `buf`: an event-stream request served here, a short request (a body of
/// at most `max_body` bytes declared by `Content-Length`) answered by the pipeline, or one for hyper.
pub(super) fn parse(buf: &[u8], max_body: usize) -> Parsed {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut head = httparse::Request::new(&mut headers);
    let len = match head.parse(buf) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) => return Parsed::Partial,
        Err(_) => return Parsed::Other,
    };
    let Some(method) = head.method else { return Parsed::Other };
    let short = SHORT_METHODS.contains(&method);
    if !(method == "GET" || short) || head.version != Some(1) {
        return Parsed::Other;
    }
    let (mut close, mut event_stream, mut body) = (false, false, None::<usize>);
    for h in head.headers.iter() {
        let name = h.name;
        if ["transfer-encoding", "upgrade", "expect"].iter().any(|n| name.eq_ignore_ascii_case(n)) {
            return Parsed::Other;
        }
        if name.eq_ignore_ascii_case("content-length") {
            // Only one, of digits only, within the limit: anything else (hyper answers 400 or 413) goes to hyper.
            let declared =
                std::str::from_utf8(h.value).ok().filter(|v| !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()));
            match declared.and_then(|v| v.parse::<usize>().ok()) {
                Some(n) if short && body.is_none() && n <= max_body => body = Some(n),
                _ => return Parsed::Other,
            }
        }
        if name.eq_ignore_ascii_case("connection") {
            for token in h.value.split(|&b| b == b',').map(<[u8]>::trim_ascii) {
                if token.eq_ignore_ascii_case(b"upgrade") {
                    return Parsed::Other;
                }
                close |= token.eq_ignore_ascii_case(b"close");
            }
        }
        if name.eq_ignore_ascii_case("accept") {
            event_stream |= h.value.windows(17).any(|w| w.eq_ignore_ascii_case(b"text/event-stream"));
        }
    }
    if (short && body.is_none()) || (!short && !event_stream) {
        return Parsed::Other;
    }
    let Some(Ok(uri)) = head.path.map(Uri::try_from) else {
        return Parsed::Other;
    };
    let Ok(method) = Method::from_bytes(method.as_bytes()) else { return Parsed::Other };
    let mut req = Request::builder().method(method).uri(uri).version(Version::HTTP_11);
    for h in head.headers.iter() {
        req = req.header(h.name, h.value);
    }
    // A header name or value the `http` types refuse: hyper decides what to answer.
    let Ok(req) = req.body(Body::empty()) else { return Parsed::Other };
    match body {
        Some(body) => Parsed::Short { req: Box::new(req), close, len, body },
        None => Parsed::EventStream { req: Box::new(req), close, len },
    }
}

fn wants_close(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::CONNECTION)
        .iter()
        .any(|v| v.as_bytes().split(|&b| b == b',').any(|t| t.trim_ascii().eq_ignore_ascii_case(b"close")))
}

/// How a response body is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Framing {
    /// No body (1xx, 204, 304).
    None,
    /// `Content-Length`.
    Length,
    /// `Transfer-Encoding: chunked` (event streams).
    Chunked,
}

/// Writes `head` (with the first body chunk when it is ready, in one write), then every chunk as it comes, watching
/// the client's side meanwhile (bytes it sends go to `pipelined`; its EOF ends the response).
pub(super) async fn stream<I: AsyncRead + AsyncWrite + Unpin>(
    io: &mut I,
    mut head: Vec<u8>,
    mut body: Body,
    framing: Framing,
    pipelined: &mut BytesMut,
    limit: usize,
) -> Result<(), StreamError> {
    let mut ended = framing == Framing::None;
    if !ended {
        match poll_fn(|cx| Poll::Ready(next_data(&mut body, cx))).await {
            Poll::Ready(Ok(Some(data))) => encode_chunk(&mut head, &data, framing),
            Poll::Ready(Ok(None)) => ended = true,
            Poll::Ready(Err(e)) => return Err(e),
            Poll::Pending => {}
        }
    }
    if ended && framing == Framing::Chunked {
        head.extend_from_slice(b"0\r\n\r\n");
    }
    io.write_all(&head).await?;
    io.flush().await?;
    // Nothing of the head stays while the body idles.
    drop(head);
    if ended {
        return Ok(());
    }
    loop {
        let data = poll_fn(|cx| {
            if let Poll::Ready(e) = watch_client(io, cx, pipelined, limit) {
                return Poll::Ready(Err(e));
            }
            next_data(&mut body, cx)
        })
        .await?;
        let Some(data) = data else {
            if framing == Framing::Chunked {
                io.write_all(b"0\r\n\r\n").await?;
            }
            io.flush().await?;
            break;
        };
        if framing == Framing::Chunked {
            let mut size = [0u8; 20];
            let n = chunk_size_line(&mut size, data.len());
            let mut chunk = bytes::Buf::chain(&size[..n], data).chain(&b"\r\n"[..]);
            io.write_all_buf(&mut chunk).await?;
        } else {
            let mut data = data;
            io.write_all_buf(&mut data).await?;
        }
        io.flush().await?;
    }
    Ok(())
}

/// The status line and headers: the response's own, minus the framing ones this writer decides, plus the framing,
/// `date` (unless set) and `connection: close` when closing.
fn encode_head(status: StatusCode, headers: &HeaderMap, framing: Framing, len: Option<u64>, close: bool) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    out.extend_from_slice(b"HTTP/1.1 ");
    out.extend_from_slice(status.as_str().as_bytes());
    out.push(b' ');
    out.extend_from_slice(status.canonical_reason().unwrap_or("").as_bytes());
    out.extend_from_slice(b"\r\n");
    for (name, value) in headers {
        let framing_header = name == header::TRANSFER_ENCODING
            || name == header::CONNECTION
            || (name == header::CONTENT_LENGTH && framing != Framing::Length && status != StatusCode::NOT_MODIFIED);
        if !framing_header {
            out.extend_from_slice(name.as_str().as_bytes());
            out.extend_from_slice(b": ");
            out.extend_from_slice(value.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
    }
    match framing {
        Framing::Length if !headers.contains_key(header::CONTENT_LENGTH) => {
            let _ = write!(out, "content-length: {}\r\n", len.unwrap_or(0));
        }
        Framing::Chunked => out.extend_from_slice(b"transfer-encoding: chunked\r\n"),
        Framing::Length | Framing::None => {}
    }
    if !headers.contains_key(header::DATE) {
        out.extend_from_slice(b"date: ");
        out.extend_from_slice(httpdate::fmt_http_date(std::time::SystemTime::now()).as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    if close {
        out.extend_from_slice(b"connection: close\r\n");
    }
    out.extend_from_slice(b"\r\n");
    out
}

/// Appends one body chunk in `framing`.
fn encode_chunk(out: &mut Vec<u8>, data: &[u8], framing: Framing) {
    if data.is_empty() || framing == Framing::None {
        return;
    }
    if framing == Framing::Chunked {
        let mut size = [0u8; 20];
        let n = chunk_size_line(&mut size, data.len());
        out.extend_from_slice(&size[..n]);
        out.extend_from_slice(data);
        out.extend_from_slice(b"\r\n");
    } else {
        out.extend_from_slice(data);
    }
}

/// The body's next non-empty data chunk, or `None` at its end (trailers are not sent: hyper drops them too unless
/// the client asked with `TE: trailers`).
fn next_data(body: &mut Body, cx: &mut Context<'_>) -> Poll<Result<Option<Bytes>, StreamError>> {
    loop {
        match std::task::ready!(Pin::new(&mut *body).poll_frame(cx)) {
            None => return Poll::Ready(Ok(None)),
            Some(Err(e)) => return Poll::Ready(Err(StreamError::Body(e))),
            Some(Ok(frame)) => match frame.into_data() {
                Ok(data) if !data.is_empty() => return Poll::Ready(Ok(Some(data))),
                _ => {}
            },
        }
    }
}

/// Writes `<len in hex>\r\n` into `buf`; returns its length.
fn chunk_size_line(buf: &mut [u8; 20], len: usize) -> usize {
    let mut cursor = io::Cursor::new(&mut buf[..]);
    // 16 hex digits and CRLF always fit in 20 bytes.
    let _ = write!(cursor, "{len:x}\r\n");
    usize::try_from(cursor.position()).unwrap_or(0)
}

/// Reads what the client sent while its response streams: `Ready` with the reason to stop when it closed its side
/// (or failed), `Pending` otherwise. Bytes it sends (pipelined requests) are kept in `pipelined` to be answered in
/// order once this response ends; past `limit` of them reading pauses until then, as hyper does (TCP flow control
/// holds the rest at the client), instead of dropping the connection. While paused, a client leaving is seen by the
/// next write (a heartbeat at the latest) rather than at once.
fn watch_client<I: AsyncRead + Unpin>(
    io: &mut I,
    cx: &mut Context<'_>,
    pipelined: &mut BytesMut,
    limit: usize,
) -> Poll<StreamError> {
    loop {
        if pipelined.len() >= limit {
            // The body's poll, made next by the caller, registers the waker that resumes this task.
            return Poll::Pending;
        }
        let mut space = [0u8; PROBE_READ];
        let room = (limit - pipelined.len()).min(PROBE_READ);
        let mut read = ReadBuf::new(&mut space[..room]);
        match Pin::new(&mut *io).poll_read(cx, &mut read) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(Err(e)) => return Poll::Ready(e.into()),
            Poll::Ready(Ok(())) if read.filled().is_empty() => return Poll::Ready(StreamError::ClientClosed),
            Poll::Ready(Ok(())) => pipelined.put_slice(read.filled()),
        }
    }
}

/// An I/O object whose first reads return bytes already read from it (hyper then parses them as if just received).
#[derive(Debug)]
pub(super) struct Rewind<T> {
    pre: Bytes,
    io: T,
}

impl<T> Rewind<T> {
    /// `io`, whose next reads return `pre` first.
    pub(super) fn new(io: T, pre: Bytes) -> Self {
        Rewind { pre, io }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Rewind<T> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        if self.pre.is_empty() {
            return Pin::new(&mut self.io).poll_read(cx, buf);
        }
        let n = self.pre.len().min(buf.remaining());
        buf.put_slice(&self.pre[..n]);
        self.pre.advance(n);
        Poll::Ready(Ok(()))
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Rewind<T> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}
