//! Secret floods: findings are capped per file and per layer, and the layer says so.

use super::*;
use crate::budget::Budget;
use crate::layer::LayerInventory;
use crate::layer::record::secrets as scan_into;

/// `n` distinct GitHub-token-shaped values from a fixed LCG: high entropy, no placeholder markers.
fn tokens(n: usize) -> Vec<String> {
    const ALNUM: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWabcdefghijkmnopqrstuvw23456789";
    let mut state: u64 = 0x2545_f491_4f6c_dd1d;
    (0..n)
        .map(|_| {
            let body: String = (0..36)
                .map(|_| {
                    state = state.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
                    ALNUM[(state >> 33) as usize % ALNUM.len()] as char
                })
                .collect();
            format!("ghp_{body}")
        })
        .collect()
}

/// 781 KB of key-like lines (the size that ran main out of memory): at most `secrets_per_file` findings
/// are kept, and the layer is incomplete with a reason naming the file and the budget.
#[test]
fn a_flood_of_key_lines_is_capped_per_file() {
    let text: String = tokens(17_000).iter().map(|t| format!("GITHUB_TOKEN={t}\n")).collect();
    assert!(text.len() > 780_000, "{}", text.len());
    let budget = Budget::default();
    let mut inventory = LayerInventory::new("sha256:test");
    scan_into(Scanner::builtin(), "app/.env", text.as_bytes(), &budget, &mut inventory);
    assert_eq!(inventory.secrets.len(), budget.secrets_per_file);
    assert_eq!(inventory.incomplete.len(), 1);
    let reason = &inventory.incomplete[0].reason;
    assert!(reason.contains("`/app/.env`") && reason.contains("`secrets_per_file`"), "{reason}");
    // Under the cap nothing is marked.
    let mut small = LayerInventory::new("sha256:test");
    scan_into(Scanner::builtin(), "app/.env", &text.as_bytes()[..4000], &budget, &mut small);
    assert!(!small.secrets.is_empty() && small.is_complete());
}

/// The same tokens on one line: each finding shows a window of the line, never the whole line.
#[test]
fn one_long_line_of_tokens_costs_a_window_per_finding() {
    let line = tokens(17_000).join(" token=");
    let (found, more) = Scanner::builtin().scan_limited("app/config.json", format!("token={line}").as_bytes(), 50);
    assert!(more);
    assert_eq!(found.len(), 50);
    assert!(found.iter().all(|f| f.masked.len() < 400), "{}", found[0].masked.len());
}

/// Files under the per-file cap add up to the per-layer cap; then the layer stops collecting and says so
/// once.
#[test]
fn findings_are_capped_per_layer() {
    let budget = Budget { secrets_per_file: 40, secrets_per_layer: 100, ..Budget::default() };
    let all = tokens(30 * 10);
    let mut inventory = LayerInventory::new("sha256:test");
    for (i, chunk) in all.chunks(30).enumerate() {
        let text: String = chunk.iter().map(|t| format!("GITHUB_TOKEN={t}\n")).collect();
        scan_into(Scanner::builtin(), &format!("app/{i}.env"), text.as_bytes(), &budget, &mut inventory);
    }
    assert_eq!(inventory.secrets.len(), 100);
    assert_eq!(inventory.incomplete.len(), 1, "{:?}", inventory.incomplete);
    let reason = &inventory.incomplete[0].reason;
    assert!(reason.contains("`/app/3.env`") && reason.contains("`secrets_per_layer`"), "{reason}");
}
