//! Messages and their encoded form.
//!
//! Every message is serialized with postcard, even between two processes of the
//! same node: a message is a copy, never shared memory, exactly as on the BEAM,
//! and a type mismatch is caught the same way locally and remotely. postcard is
//! not self-describing, so each payload carries the Rust type name of what was
//! encoded; decoding as another type is a [`DecodeError`] instead of garbage.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::borrow::Cow;
use std::fmt;

/// Anything that can be sent between processes: serde-serializable, owned, `Send`.
pub trait Message: Serialize + DeserializeOwned + Send + 'static {}
impl<T: Serialize + DeserializeOwned + Send + 'static> Message for T {}

/// The name a message type is known by on the wire.
pub fn type_name<T: ?Sized + 'static>() -> &'static str {
    std::any::type_name::<T>()
}

/// An encoded message: the type name plus postcard bytes.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Payload {
    type_name: Cow<'static, str>,
    bytes: Vec<u8>,
}

/// A message could not be decoded as the type the receiver expected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
#[error("expected a message of type {expected}, got {got}{}", detail.as_deref().map(|d| format!(" ({d})")).unwrap_or_default())]
pub struct DecodeError {
    /// The type the receiver asked for.
    pub expected: String,
    /// The type the sender encoded.
    pub got: String,
    /// The decoder's complaint when the names matched but the bytes did not.
    pub detail: Option<String>,
}

impl Payload {
    /// Encodes a message.
    pub fn encode<T: Message>(msg: &T) -> Payload {
        Payload {
            type_name: Cow::Borrowed(type_name::<T>()),
            // Serializing plain serde data into a Vec cannot fail for the types
            // serde derives; a hand-written Serialize that errors is a bug worth a panic
            // inside the sending process (which only kills that process).
            bytes: postcard::to_allocvec(msg).expect("message serialization failed"),
        }
    }

    /// True when the payload was encoded from a `T`.
    pub fn is<T: 'static>(&self) -> bool {
        self.type_name == type_name::<T>()
    }

    /// Decodes as `T`, checking the type name first.
    pub fn decode<T: Message>(&self) -> Result<T, DecodeError> {
        if !self.is::<T>() {
            return Err(DecodeError {
                expected: type_name::<T>().to_string(),
                got: self.type_name.to_string(),
                detail: None,
            });
        }
        postcard::from_bytes(&self.bytes).map_err(|e| DecodeError {
            expected: type_name::<T>().to_string(),
            got: self.type_name.to_string(),
            detail: Some(e.to_string()),
        })
    }

    /// The Rust type name of the encoded message.
    pub fn type_name(&self) -> &str {
        &self.type_name
    }

    /// Size of the encoded message body in bytes.
    pub fn len(&self) -> usize {
        self.bytes.len()
    }

    /// True for a zero-byte body (a unit struct or `()`).
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }
}

impl fmt::Debug for Payload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Payload<{}; {} bytes>", self.type_name, self.bytes.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Serialize, Deserialize, Debug, PartialEq)]
    struct Ping(u32);
    #[derive(Serialize, Deserialize, Debug, PartialEq)]
    struct Pong(u32);

    #[test]
    fn round_trip_and_type_check() {
        let p = Payload::encode(&Ping(7));
        assert!(p.is::<Ping>());
        assert_eq!(p.decode::<Ping>().unwrap(), Ping(7));
        let e = p.decode::<Pong>().unwrap_err();
        assert!(e.to_string().contains("Pong"), "{e}");
        assert!(e.to_string().contains("Ping"), "{e}");
    }
}
