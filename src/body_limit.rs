//! Size caps for bodies Portico reads itself (management API requests, fetched
//! JWKS). The platform feeds chunks as they stream in; this decides, before a chunk
//! is copied, whether it still fits, so nothing past the cap is ever buffered.

/// A body (declared or streamed) is larger than the cap.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the body is larger than {limit} bytes")]
pub struct TooLarge {
    /// The cap in bytes.
    pub limit: usize,
}

/// Checks a declared `Content-Length` against `cap`. A missing or unparsable value
/// is not refused here: the stream is still capped as it is read.
pub fn check_declared(content_length: Option<&str>, cap: usize) -> Result<(), TooLarge> {
    match content_length.map(|v| v.trim().parse::<u64>()) {
        // A length that does not fit usize is certainly over any cap we use.
        Some(Ok(n)) if usize::try_from(n).map_or(true, |n| n > cap) => Err(TooLarge { limit: cap }),
        _ => Ok(()),
    }
}

/// Collects a streamed body up to `cap` bytes.
#[derive(Debug)]
pub struct CappedBody {
    cap: usize,
    buf: Vec<u8>,
}

impl CappedBody {
    /// An empty body with room for at most `cap` bytes.
    pub fn new(cap: usize) -> Self {
        Self {
            cap,
            buf: Vec::new(),
        }
    }

    /// Whether a chunk of `len` more bytes would still fit (asked before copying a
    /// chunk out of JS memory).
    pub fn fits(&self, len: usize) -> bool {
        self.buf
            .len()
            .checked_add(len)
            .is_some_and(|total| total <= self.cap)
    }

    /// Appends a chunk, or refuses it (keeping nothing of it) when the total would
    /// pass the cap.
    pub fn push(&mut self, chunk: &[u8]) -> Result<(), TooLarge> {
        if !self.fits(chunk.len()) {
            return Err(TooLarge { limit: self.cap });
        }
        self.buf.extend_from_slice(chunk);
        Ok(())
    }

    /// Bytes collected so far.
    pub fn len(&self) -> usize {
        self.buf.len()
    }

    /// Whether nothing was collected.
    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// The collected body.
    pub fn into_bytes(self) -> Vec<u8> {
        self.buf
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn declared_lengths() {
        assert_eq!(check_declared(None, 10), Ok(()));
        assert_eq!(check_declared(Some("10"), 10), Ok(()));
        assert_eq!(
            check_declared(Some(" 11 "), 10),
            Err(TooLarge { limit: 10 })
        );
        assert_eq!(
            check_declared(Some("99999999999999999999999"), 10),
            Ok(()),
            "unparsable: left to the streaming cap"
        );
        assert_eq!(
            check_declared(Some("18446744073709551615"), usize::MAX),
            if usize::BITS >= 64 {
                Ok(())
            } else {
                Err(TooLarge { limit: usize::MAX })
            }
        );
        assert_eq!(check_declared(Some("nope"), 10), Ok(()));
    }

    #[test]
    fn stops_at_the_cap_without_keeping_the_overflowing_chunk() {
        let mut b = CappedBody::new(5);
        assert_eq!(b.push(b"abc"), Ok(()));
        assert_eq!(b.push(b"de"), Ok(()));
        assert_eq!(b.push(b"f"), Err(TooLarge { limit: 5 }));
        assert_eq!(b.len(), 5);
        assert_eq!(b.into_bytes(), b"abcde");
    }

    proptest! {
        /// However a body is split into chunks, it is accepted exactly when its total
        /// size is within the cap, and the buffer never holds more than the cap.
        #[test]
        fn prop_any_chunking_respects_the_cap(
            chunks in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..64), 0..32),
            cap in 0usize..1024,
        ) {
            let mut b = CappedBody::new(cap);
            let total: usize = chunks.iter().map(Vec::len).sum();
            let mut refused = false;
            for c in &chunks {
                if b.push(c).is_err() {
                    refused = true;
                    break;
                }
                prop_assert!(b.len() <= cap);
            }
            prop_assert_eq!(refused, total > cap);
            prop_assert!(b.len() <= cap);
        }
    }
}
