//! Concurrent uploads to one test (parallel CI jobs of one image, or a job racing the fleet). DefectDojo
//! 3.2.0 serialises no part of a reimport: two uploads that both find no test create two tests with the
//! same title, and two that both find no finding for a hash both create it (three one-off uploads at
//! once left 442 findings with 153 duplicated hashes). Nothing every uploader can see offers a lock — a
//! one-off CLI upload shares nothing with the others but DefectDojo — so each uploader repairs after its
//! own upload, by DefectDojo's own rules, and every uploader that created something checks after its
//! creations are in: of any two racing creators, the later check sees both.
//!
//! - **The test** of a title is the oldest one (lowest id) of that title and scan type in the
//!   engagement: it was created first, so every creator agrees on it whatever it has seen of the others.
//!   An upload that created a newer one is sent again into the oldest, and the test it created is
//!   deleted — only that one: a test some earlier upload created keeps its triage. When the key may not
//!   delete tests, that test's findings are closed as duplicates and it is renamed (`… (surplus of test
//!   N)`), so that DefectDojo, which picks the *newest* test of a title, does not pick it again.
//! - **A finding** of a test is one per hash: DefectDojo's reimport matches a reported finding to the
//!   lowest id of its hash in the test, and closes the others of that hash on the next upload anyway.
//!   Of the active findings of one hash, all but the lowest id are closed now, marked duplicate, with a
//!   note. Findings of different hashes are never touched.

use std::collections::BTreeMap;
use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};
use tracing::{info, warn};

use super::client::{Client, DefectDojoError, ImportResult, Upload};

/// Tests of one title in one engagement, and active findings of one test, read at most: beyond this the
/// repair refuses rather than acting on half a test.
const MAX_TESTS: usize = 1000;
const MAX_FINDINGS: usize = 200_000;

/// What the repair did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Settled {
    /// This upload created a second test of its title, was sent again into the oldest, and the test it
    /// created was deleted (`true`) or emptied and renamed (`false`: the key may not delete tests).
    pub moved: Option<(i64, bool)>,
    /// Active duplicate findings closed in the test.
    pub duplicates_closed: usize,
}

/// After `result`, the answer to `upload` of `file`: makes sure the upload's findings sit in the oldest
/// test of its title, once each. `result.test_id` becomes that test. Only an upload that created a test
/// or created or reactivated findings can have raced into a duplicate; any other costs nothing here.
pub async fn settle(
    client: &Client,
    upload: &Upload,
    file: &[u8],
    result: &mut ImportResult,
) -> Result<Settled, DefectDojoError> {
    let mut settled = Settled::default();
    if !result.created_test && result.delta.created.total == 0 && result.delta.reactivated.total == 0 {
        return Ok(settled);
    }
    let landed = result.test_id;
    let title = &upload.names.test_title;
    if result.created_test
        && let Some(oldest) = oldest_test(client, result.engagement_id, title).await?.filter(|t| *t < landed)
    {
        let again = client.reimport_into(Some(oldest), upload, file).await?;
        info!(
            from = landed,
            to = oldest,
            created = again.delta.created.total,
            "DefectDojo: a concurrent upload \
              created the test of this title first; sent again into it"
        );
        *result = ImportResult { delta: result.delta.clone(), created_test: false, ..again };
        let deleted = match client.delete(&format!("/api/v2/tests/{landed}/")).await {
            Ok(_) => true,
            Err(DefectDojoError::Rejected { status: 403, .. }) => {
                warn!(
                    test_id = landed,
                    "DefectDojo: the API key may not delete tests; emptying and renaming the \
                      surplus test instead (delete it by hand)"
                );
                let surplus: String = format!("{title} (surplus of test {oldest})").chars().take(255).collect();
                client
                    .send_json(Method::PATCH, &format!("/api/v2/tests/{landed}/"), &json!({"title": surplus}))
                    .await?;
                for id in active_ids(client, landed).await? {
                    close_duplicate(client, id, &format!("its findings were sent again into test {oldest}")).await?;
                }
                false
            }
            Err(e) => return Err(e),
        };
        settled.moved = Some((landed, deleted));
    }
    settled.duplicates_closed = close_duplicates(client, result.test_id).await?;
    Ok(settled)
}

/// The one-off upload (`strata image --defectdojo`): the reimport, then [`settle`], each tried again after
/// a backoff while it fails temporarily, four times at most. A repair that failed half-way (DefectDojo
/// answers 500 when a test is deleted while a racer writes a note on one of its findings) is safe to run
/// again: its reimport into the oldest test is then an identical one.
pub async fn upload_settled(
    client: &Client,
    upload: &Upload,
    file: &[u8],
) -> Result<(ImportResult, Settled), DefectDojoError> {
    let result = retrying(|| client.reimport(upload, file)).await?;
    retrying(|| {
        let mut result = result.clone();
        async move { settle(client, upload, file, &mut result).await.map(|settled| (result, settled)) }
    })
    .await
}

async fn retrying<T, F, Fut>(mut call: F) -> Result<T, DefectDojoError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, DefectDojoError>>,
{
    let mut attempt = 0;
    loop {
        attempt += 1;
        match call().await {
            Err(e) if e.is_retryable() && attempt < 4 => {
                let wait = crate::backoff(Duration::from_secs(2), Duration::from_secs(30), attempt, e.retry_after());
                warn!(error = %e, retry_in_s = wait.as_secs(), "DefectDojo: retrying");
                tokio::time::sleep(wait).await;
            }
            other => return other,
        }
    }
}

/// The oldest test of `title` (and scan type `Trivy Scan`) in the engagement.
async fn oldest_test(client: &Client, engagement: i64, title: &str) -> Result<Option<i64>, DefectDojoError> {
    let query = [("engagement", engagement.to_string()), ("title", title.to_string())];
    let tests = client.list("/api/v2/tests/", &query, MAX_TESTS).await?;
    Ok(tests
        .iter()
        .filter(|t| t["title"].as_str() == Some(title))
        .filter(|t| t["scan_type"].as_str().is_none_or(|s| s == "Trivy Scan"))
        .filter_map(|t| t["id"].as_i64())
        .min())
}

async fn active_findings(client: &Client, test: i64) -> Result<Vec<Value>, DefectDojoError> {
    let query = [("test", test.to_string()), ("active", "true".into())];
    client.list("/api/v2/findings/", &query, MAX_FINDINGS).await
}

async fn active_ids(client: &Client, test: i64) -> Result<Vec<i64>, DefectDojoError> {
    Ok(active_findings(client, test).await?.iter().filter_map(|f| f["id"].as_i64()).collect())
}

/// Closes every active finding of `test` that shares its hash with an active one of a lower id.
async fn close_duplicates(client: &Client, test: i64) -> Result<usize, DefectDojoError> {
    let findings = active_findings(client, test).await?;
    let mut closed = 0;
    for (keep, surplus) in duplicates(&findings) {
        for id in surplus {
            close_duplicate(client, id, &format!("duplicate of finding {keep}")).await?;
            closed += 1;
        }
    }
    if closed > 0 {
        info!(test_id = test, closed, "DefectDojo: closed duplicates that concurrent uploads created");
    }
    Ok(closed)
}

/// Per hash with several active findings: the lowest id, which stays, and the others.
fn duplicates(findings: &[Value]) -> Vec<(i64, Vec<i64>)> {
    let mut by_hash: BTreeMap<&str, Vec<i64>> = BTreeMap::new();
    for f in findings {
        if let (Some(hash), Some(id)) = (f["hash_code"].as_str().filter(|h| !h.is_empty()), f["id"].as_i64()) {
            by_hash.entry(hash).or_default().push(id);
        }
    }
    by_hash
        .into_values()
        .filter(|ids| ids.len() > 1)
        .map(|mut ids| {
            ids.sort_unstable();
            ids.dedup();
            let keep = ids.remove(0);
            (keep, ids)
        })
        .filter(|(_, surplus)| !surplus.is_empty())
        .collect()
}

/// Closed, marked duplicate and mitigated: the next reimport then leaves it as it is (it matches the
/// lowest id of the hash, and does not close what is closed already).
async fn close_duplicate(client: &Client, id: i64, why: &str) -> Result<(), DefectDojoError> {
    let note = format!("Closed by Strata: {why}, created by concurrent uploads to this test.");
    let body = json!({"is_mitigated": true, "duplicate": true, "note": note});
    client.send_json(Method::POST, &format!("/api/v2/findings/{id}/close/"), &body).await.map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_surplus_findings_of_one_hash_are_duplicates() {
        let f = |id: i64, hash: &str| json!({"id": id, "hash_code": hash});
        let findings = [f(9, "a"), f(4, "a"), f(5, "b"), f(7, "a"), f(6, "c"), f(8, "c"), f(10, ""), f(11, "")];
        assert_eq!(duplicates(&findings), vec![(4, vec![7, 9]), (6, vec![8])]);
        assert!(duplicates(&[f(1, "a"), f(2, "b")]).is_empty());
    }
}
