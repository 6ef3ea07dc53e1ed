//! A progress bar on stderr (layers and bytes) when it is a terminal; a no-op otherwise.

use std::io::{IsTerminal, Read};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

#[derive(Clone)]
pub struct Progress {
    bar: Option<ProgressBar>,
    layers: usize,
    done: Arc<AtomicUsize>,
}

impl Progress {
    pub fn new(wanted: bool, layers: usize, total_bytes: u64) -> Self {
        if !wanted || !std::io::stderr().is_terminal() {
            return Progress { bar: None, layers, done: Arc::default() };
        }
        let bar = ProgressBar::with_draw_target(Some(total_bytes), ProgressDrawTarget::stderr());
        if let Ok(style) = ProgressStyle::with_template("{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec}") {
            bar.set_style(style.progress_chars("=> "));
        }
        bar.set_message(format!("layers 0/{layers}"));
        Progress { bar: Some(bar), layers, done: Arc::default() }
    }

    /// Counts the blob bytes as the engine reads them.
    pub fn wrap(&self, reader: Box<dyn Read + Send>) -> Box<dyn Read + Send> {
        match &self.bar {
            Some(bar) => Box::new(bar.wrap_read(reader)),
            None => reader,
        }
    }

    pub fn layer_done(&self) {
        if let Some(bar) = &self.bar {
            let done = self.done.fetch_add(1, Ordering::Relaxed) + 1;
            bar.set_message(format!("layers {done}/{}", self.layers));
        }
    }

    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}
