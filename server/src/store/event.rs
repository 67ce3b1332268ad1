//! One stored event as it goes on the wire: its position and its encoded frame, shared by every subscriber. Defined
//! here, with the store that makes it, so that the hub (which fans it out) imports the store and never the reverse.

use bytes::Bytes;

use super::Payload;

/// One published event: its position and its encoded frame, shared by every subscriber.
#[derive(Debug)]
pub struct Event {
    /// The position (store-wide, increasing).
    pub pos: u64,
    /// The frame as it goes on the wire (with `id: <epoch>-<pos>`).
    pub frame: Bytes,
}

/// Encodes one stored event: `id: <epoch>-<position>`, the event name, the data.
pub fn encode_event(epoch: &str, position: u64, payload: &Payload) -> Result<(Event, String), sse_codec::EncodeError> {
    let data = payload.render(position);
    let id = crate::event_id::format(epoch, position);
    let mut frame = sse_codec::Frame::message(&data).id(&id);
    if let Some(e) = &payload.event {
        frame = frame.event(e);
    }
    let mut buf = Vec::with_capacity(data.len() + id.len() + 32);
    sse_codec::encode_into(&frame, &mut buf)?;
    Ok((Event { pos: position, frame: Bytes::from(buf) }, data))
}
