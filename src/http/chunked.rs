//! Placeholder: replaced by the real decoder from the `codecs` branch.
#![allow(missing_docs)]
#[derive(Debug)]
pub struct ChunkedDecoder {
    max_body: usize,
    _t: usize,
}
#[derive(Debug)]
pub struct Progress {
    pub consumed: usize,
    pub done: bool,
}
#[derive(Debug)]
pub enum ChunkedError {
    InvalidSize,
}
impl std::fmt::Display for ChunkedError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("invalid chunk")
    }
}
impl ChunkedError {
    pub fn status(&self) -> u16 {
        400
    }
}
impl ChunkedDecoder {
    pub fn new(max_body: usize, max_trailer: usize) -> Self {
        ChunkedDecoder {
            max_body,
            _t: max_trailer,
        }
    }
    pub fn decode(&mut self, _input: &[u8], _out: &mut Vec<u8>) -> Result<Progress, ChunkedError> {
        let _ = self.max_body;
        Err(ChunkedError::InvalidSize)
    }
}
