//! Placeholder: replaced by the real writer from the `codecs` branch.
#![allow(missing_docs)]
pub fn write_u64(out: &mut Vec<u8>, n: u64) {
    out.extend_from_slice(n.to_string().as_bytes());
}
pub fn write_string(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    for c in s.chars() {
        match c {
            '"' => out.extend_from_slice(b"\\\""),
            '\\' => out.extend_from_slice(b"\\\\"),
            c if (c as u32) < 0x20 => {
                out.extend_from_slice(format!("\\u{:04x}", c as u32).as_bytes())
            }
            c => out.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes()),
        }
    }
    out.push(b'"');
}
pub fn write_item(out: &mut Vec<u8>, id: u64, data: &str) {
    out.extend_from_slice(b"{\"id\":");
    write_u64(out, id);
    out.extend_from_slice(b",\"data\":");
    write_string(out, data);
    out.push(b'}');
}
pub fn write_batch<'a>(
    out: &mut Vec<u8>,
    last_id: u64,
    gap: bool,
    items: impl IntoIterator<Item = &'a [u8]>,
) {
    out.extend_from_slice(b"{\"last_id\":");
    write_u64(out, last_id);
    out.extend_from_slice(b",\"messages\":[");
    for (i, item) in items.into_iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(item);
    }
    out.push(b']');
    if gap {
        out.extend_from_slice(b",\"gap\":true");
    }
    out.push(b'}');
}
