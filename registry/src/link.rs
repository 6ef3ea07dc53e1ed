//! The `Link` header (RFC 8288) as registries use it to paginate `/v2/_catalog` and `/v2/<name>/tags/list`:
//! `Link: </v2/_catalog?last=b&n=2>; rel="next"`. Only the `next` target is of interest; the rest of the
//! grammar (anchors, titles, other relations) is parsed only as far as needed to skip it.

/// The target of the `rel="next"` link among the (comma-separated) links of one `Link` header value, as
/// written (often relative: resolve it against the request URL). `None` when there is no next page or the
/// value is not a link list.
pub(crate) fn next_target(header: &str) -> Option<&str> {
    let mut rest = header;
    loop {
        let start = rest.find('<')?;
        let end = start + rest[start..].find('>')?;
        let target = rest[start + 1..end].trim();
        // Parameters run to the next link, which starts at a top-level comma followed by `<`.
        let after = &rest[end + 1..];
        let params_end = next_link_start(after).unwrap_or(after.len());
        if has_next_relation(&after[..params_end]) {
            return Some(target);
        }
        rest = &after[params_end..];
    }
}

/// Where the next `<target>` begins in `text`: a `<` outside quotes.
fn next_link_start(text: &str) -> Option<usize> {
    let mut quoted = false;
    for (i, c) in text.char_indices() {
        match c {
            '"' => quoted = !quoted,
            '<' if !quoted => return Some(i),
            _ => {}
        }
    }
    None
}

/// Whether `; rel=next` or `; rel="next other"` is among the parameters (relation types are
/// case-insensitive and space-separated).
fn has_next_relation(params: &str) -> bool {
    params.split(';').filter_map(|p| p.split_once('=')).any(|(name, value)| {
        name.trim().eq_ignore_ascii_case("rel")
            && value
                .trim()
                .trim_end_matches(',')
                .trim()
                .trim_matches('"')
                .split_whitespace()
                .any(|r| r.eq_ignore_ascii_case("next"))
    })
}

#[cfg(test)]
mod tests {
    use super::next_target;

    #[test]
    fn link_headers() {
        let cases: &[(&str, Option<&str>)] = &[
            // distribution's own form
            (r#"</v2/_catalog?last=team%2Fapp&n=50>; rel="next""#, Some("/v2/_catalog?last=team%2Fapp&n=50")),
            // unquoted relation, extra whitespace
            ("  < /v2/app/tags/list?n=2&last=v2 > ;rel=next", Some("/v2/app/tags/list?n=2&last=v2")),
            // absolute target
            (
                r#"<https://r.example/v2/_catalog?last=b&n=2>; rel="next""#,
                Some("https://r.example/v2/_catalog?last=b&n=2"),
            ),
            // several links: the next one is not first
            (
                r#"</v2/_catalog?n=2>; rel="first", </v2/_catalog?last=d&n=2>; rel="next""#,
                Some("/v2/_catalog?last=d&n=2"),
            ),
            // several relation types, upper case
            (r#"</p3>; rel="last NEXT""#, Some("/p3")),
            // a comma and a `<` inside a quoted parameter do not start a link
            (r#"</a>; title="x, <y>"; rel="prev", </b>; rel="next""#, Some("/b")),
            // other parameters around rel
            (r#"</c>; type="application/json"; rel="next"; title="more""#, Some("/c")),
            // no next page
            (r#"</v2/_catalog?n=2>; rel="prev""#, None),
            (r#"</v2/_catalog?n=2>; rel="nextpage""#, None),
            ("", None),
            ("not a link", None),
            ("</unterminated; rel=next", None),
        ];
        for (header, expected) in cases {
            assert_eq!(next_target(header), *expected, "{header}");
        }
    }
}
