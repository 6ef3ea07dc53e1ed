//! What a scan's status means to every reader (coordinator, CLI, load test): one definition of "finished"
//! and one of the name logs, spans, sweep reports and the CLI show.

use crate::v1::ScanStatus;

impl ScanStatus {
    /// No further transition follows: done, partial, failed or cancelled.
    pub fn is_terminal(self) -> bool {
        matches!(self, Self::Done | Self::Partial | Self::Failed | Self::Cancelled)
    }

    /// `done`, `partial`, … : the wire name without its `SCAN_STATUS_` prefix, lower case.
    pub fn name(self) -> String {
        self.as_str_name().trim_start_matches("SCAN_STATUS_").to_ascii_lowercase()
    }
}

/// [`ScanStatus::is_terminal`] of a wire value; a value this build does not know is not terminal.
pub fn is_terminal(status: i32) -> bool {
    ScanStatus::try_from(status).is_ok_and(ScanStatus::is_terminal)
}

/// [`ScanStatus::name`] of a wire value; `unknown` for a value this build does not know.
pub fn name(status: i32) -> String {
    ScanStatus::try_from(status).map_or_else(|_| "unknown".into(), ScanStatus::name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_terminal_states() {
        assert_eq!(name(ScanStatus::Done as i32), "done");
        assert_eq!(name(ScanStatus::Cancelled as i32), "cancelled");
        assert_eq!(name(99), "unknown");
        let terminal: Vec<_> = (0..=8).filter(|s| is_terminal(*s)).map(name).collect();
        assert_eq!(terminal, ["done", "partial", "failed", "cancelled"]);
        assert!(!is_terminal(99));
    }
}
