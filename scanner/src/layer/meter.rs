//! The layer's running budget: wall time, decompressed bytes and the compression ratio, checked on every
//! read of the decompressed stream (and by the tar walk per entry), so a bomb or a slow-drip layer is
//! stopped within one buffer refill of crossing a limit.
//!
//! A read past a limit fails with [`exhausted`] and the meter remembers why; the walk then records an
//! [`super::Incomplete`] naming the budget, stops decompressing and only hashes the rest of the compressed
//! blob so the digest is still verified.

use std::cell::{Cell, RefCell};
use std::io::{self, Read};
use std::time::Instant;

use crate::budget::Budget;

pub(crate) struct Meter<'b> {
    budget: &'b Budget,
    start: Instant,
    compressed: Cell<u64>,
    decompressed: Cell<u64>,
    tripped: RefCell<Option<String>>,
}

const GIB: f64 = 1024.0 * 1024.0 * 1024.0;

impl<'b> Meter<'b> {
    pub(crate) fn new(budget: &'b Budget) -> Self {
        Meter {
            budget,
            start: Instant::now(),
            compressed: Cell::new(0),
            decompressed: Cell::new(0),
            tripped: RefCell::new(None),
        }
    }

    pub(crate) fn budget(&self) -> &Budget {
        self.budget
    }

    pub(crate) fn decompressed(&self) -> u64 {
        self.decompressed.get()
    }

    /// Why the analysis was stopped, once a limit was crossed.
    pub(crate) fn tripped(&self) -> Option<String> {
        self.tripped.borrow().clone()
    }

    /// Records the first reason only: later failures are consequences of it.
    pub(crate) fn trip(&self, reason: String) -> io::Error {
        self.tripped.borrow_mut().get_or_insert(reason);
        exhausted()
    }

    /// The wall-clock deadline alone: cheap enough for every entry and every run of zeros a sparse file
    /// expands to.
    pub(crate) fn check_deadline(&self) -> io::Result<()> {
        if self.tripped.borrow().is_some() {
            return Err(exhausted());
        }
        if self.start.elapsed() > self.budget.wall {
            return Err(self.trip(format!(
                "the layer's analysis ran out of time after {} s (budget `wall`); the rest of the layer was not \
                 analysed",
                self.budget.wall.as_secs()
            )));
        }
        Ok(())
    }

    fn add_decompressed(&self, n: usize) -> io::Result<()> {
        let total = self.decompressed.get() + n as u64;
        self.decompressed.set(total);
        let b = self.budget;
        if total > b.decompressed_bytes {
            return Err(self.trip(format!(
                "more than {:.1} GiB decompressed (budget `decompressed_bytes` = {}); the rest of the layer was \
                 not analysed",
                b.decompressed_bytes as f64 / GIB,
                b.decompressed_bytes
            )));
        }
        let compressed = self.compressed.get().max(1);
        if total > b.ratio_floor_bytes && total / compressed > b.max_ratio {
            return Err(self.trip(format!(
                "{total} bytes decompressed from {compressed} compressed, over {}× (budget `max_ratio`, checked \
                 past `ratio_floor_bytes` = {}); the rest of the layer was not analysed",
                b.max_ratio, b.ratio_floor_bytes
            )));
        }
        self.check_deadline()
    }
}

/// The error a read returns once a budget is exhausted; the reason is in [`Meter::tripped`].
pub(crate) fn exhausted() -> io::Error {
    io::Error::other("layer analysis budget exhausted")
}

/// Counts the compressed bytes the decoder consumes (for the ratio).
pub(crate) struct Compressed<'m, 'b, R> {
    pub(crate) inner: R,
    pub(crate) meter: &'m Meter<'b>,
}

impl<R: Read> Read for Compressed<'_, '_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.meter.compressed.set(self.meter.compressed.get() + n as u64);
        Ok(n)
    }
}

/// Counts decompressed bytes and enforces the budget on every read.
pub(crate) struct Decompressed<'m, 'b, R> {
    pub(crate) inner: R,
    pub(crate) meter: &'m Meter<'b>,
}

impl<R: Read> Read for Decompressed<'_, '_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.meter.tripped.borrow().is_some() {
            return Err(exhausted());
        }
        let n = self.inner.read(buf)?;
        self.meter.add_decompressed(n)?;
        Ok(n)
    }
}
