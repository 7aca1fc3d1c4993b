//! Latency recording and the result line: a log-linear histogram (about
//! 1% resolution, fixed memory whatever the sample count) and a tiny JSON
//! object writer for the one machine-readable line each scenario prints.

use std::fmt::Write as _;

/// Sub-buckets per power of two: values are kept to within 1/128.
const SUB_BITS: u32 = 7;
const SUB: usize = 1 << SUB_BITS;

/// A histogram of nanosecond values.
#[derive(Debug, Clone)]
pub struct Histogram {
    counts: Vec<u64>,
    total: u64,
    max: u64,
}

impl Histogram {
    pub fn new() -> Histogram {
        Histogram {
            counts: vec![0; SUB * 64],
            total: 0,
            max: 0,
        }
    }

    fn index(value: u64) -> usize {
        if value < SUB as u64 {
            return value as usize;
        }
        let exp = 63 - value.leading_zeros(); // >= SUB_BITS
        let shift = exp - SUB_BITS;
        let mantissa = (value >> shift) as usize & (SUB - 1);
        (shift as usize + 1) * SUB + mantissa
    }

    /// The smallest value that falls in bucket `index`'s upper neighbour,
    /// minus one: an upper bound of the bucket.
    fn upper(index: usize) -> u64 {
        if index < SUB {
            return index as u64;
        }
        let shift = (index / SUB - 1) as u32;
        let mantissa = (index % SUB) as u64 | SUB as u64;
        ((mantissa + 1) << shift) - 1
    }

    pub fn record(&mut self, value: u64) {
        if let Some(c) = self.counts.get_mut(Self::index(value)) {
            *c += 1;
        }
        self.total += 1;
        self.max = self.max.max(value);
    }

    pub fn max(&self) -> u64 {
        self.max
    }

    /// Adds what `other` recorded (another thread's share of a run).
    pub fn merge(&mut self, other: &Histogram) {
        for (c, o) in self.counts.iter_mut().zip(&other.counts) {
            *c += o;
        }
        self.total += other.total;
        self.max = self.max.max(other.max);
    }

    /// The value at quantile `q` (0.0 to 1.0), to within 1%.
    pub fn quantile(&self, q: f64) -> u64 {
        if self.total == 0 {
            return 0;
        }
        let rank = ((q * self.total as f64).ceil() as u64).clamp(1, self.total);
        let mut seen = 0;
        for (i, &c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                return Self::upper(i).min(self.max);
            }
        }
        self.max
    }
}

/// One JSON object, built field by field.
#[derive(Debug, Default)]
pub struct JsonLine {
    out: String,
}

impl JsonLine {
    pub fn new() -> JsonLine {
        JsonLine::default()
    }

    fn key(&mut self, key: &str) {
        self.out.push(if self.out.is_empty() { '{' } else { ',' });
        let _ = write!(self.out, "\"{key}\":");
    }

    pub fn str(mut self, key: &str, value: &str) -> Self {
        self.key(key);
        self.out.push_str(&json_string(value));
        self
    }

    pub fn int(mut self, key: &str, value: u64) -> Self {
        self.key(key);
        let _ = write!(self.out, "{value}");
        self
    }

    pub fn num(mut self, key: &str, value: f64) -> Self {
        self.key(key);
        if value.is_finite() {
            let _ = write!(self.out, "{value:.3}");
        } else {
            self.out.push_str("null");
        }
        self
    }

    /// A value that is JSON already: an array or object built elsewhere.
    pub fn raw(mut self, key: &str, json: &str) -> Self {
        self.key(key);
        self.out.push_str(json);
        self
    }

    pub fn finish(mut self) -> String {
        if self.out.is_empty() {
            self.out.push('{');
        }
        self.out.push('}');
        self.out
    }
}

/// `value` as a JSON string, quoted and escaped.
pub fn json_string(value: &str) -> String {
    let mut bytes = Vec::new();
    pushwire::json::write_string(&mut bytes, value);
    String::from_utf8_lossy(&bytes).into_owned()
}

/// A JSON array of values that are JSON already.
pub fn json_array(items: impl IntoIterator<Item = String>) -> String {
    let items: Vec<String> = items.into_iter().collect();
    format!("[{}]", items.join(","))
}

/// Nanoseconds as microseconds with one decimal, for the human line.
pub fn micros(nanos: u64) -> f64 {
    nanos as f64 / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_are_within_one_percent() {
        let mut h = Histogram::new();
        for v in 1..=100_000u64 {
            h.record(v * 1000);
        }
        for (q, want) in [(0.5, 50_000_000.0), (0.99, 99_000_000.0)] {
            let got = h.quantile(q) as f64;
            assert!((got - want).abs() / want < 0.01, "{q}: {got}");
        }
        assert_eq!(h.max(), 100_000_000);
        assert_eq!(h.quantile(1.0), 100_000_000);
    }

    #[test]
    fn json_line_escapes_and_orders() {
        let line = JsonLine::new()
            .str("a", "x\"y")
            .int("n", 3)
            .num("f", 1.5)
            .finish();
        assert_eq!(line, r#"{"a":"x\"y","n":3,"f":1.500}"#);
    }

    #[test]
    fn json_line_nests_arrays_built_elsewhere() {
        let items = ["{}".to_owned(), JsonLine::new().int("n", 1).finish()];
        let line = JsonLine::new()
            .raw("list", &json_array(items))
            .raw("none", &json_array([]))
            .finish();
        assert_eq!(line, r#"{"list":[{},{"n":1}],"none":[]}"#);
    }
}
