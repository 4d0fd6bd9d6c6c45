//! What the benchmarks share (each bench includes this file as a module).

/// Rows `1..=n` as a SQL source named `s(i)`.
pub fn series(pg: bool, n: usize) -> String {
    if pg {
        format!("(SELECT generate_series(1, {n}) AS i) AS s")
    } else {
        format!(
            "(WITH RECURSIVE r(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM r WHERE i < {n}) SELECT i FROM r) AS s"
        )
    }
}
