//! The durable log's on-disk format, sans-IO: [`record`] lays out one
//! committed message as bytes with its checksums and reads a segment back
//! into records, telling a torn tail (a write cut short by a crash) from
//! damage (a checksum that fails with more after it); [`crc32c`] is the
//! checksum. The files themselves (segments, fsync, the lock) belong to
//! the layer that owns I/O, `server`; see docs/durability.md.

mod crc32c;
pub mod record;

pub use crc32c::{crc32c, crc32c_append};
pub use record::{
    decode, encode_floor, encode_message, Damage, Decoded, End, Record, Scan, HEADER, MAX_BODY,
};
