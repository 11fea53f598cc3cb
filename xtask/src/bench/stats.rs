//! Medians and ratios of interleaved runs.

/// The median (the mean of the two middle values for an even count); `None` when empty.
pub fn median(values: &[f64]) -> Option<f64> {
    let mut sorted: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
    if sorted.is_empty() {
        return None;
    }
    sorted.sort_by(f64::total_cmp);
    let mid = sorted.len() / 2;
    Some(if sorted.len().is_multiple_of(2) {
        (sorted[mid - 1] + sorted[mid]) / 2.0
    } else {
        sorted[mid]
    })
}

/// The median of the per-round ratios `ours[i] / theirs[i]`: each round measured both under the
/// same conditions, so a slow round (another process, the page cache) cancels out.
pub fn median_ratio(ours: &[f64], theirs: &[f64]) -> Option<f64> {
    let ratios: Vec<f64> = ours
        .iter()
        .zip(theirs)
        .filter(|(_, theirs)| **theirs > 0.0)
        .map(|(ours, theirs)| ours / theirs)
        .collect();
    median(&ratios)
}

/// The order in which `count` competitors run in round `round`: rotated every round, so none
/// always goes first (onto a cold cache) or last.
pub fn rotation(count: usize, round: usize) -> Vec<usize> {
    (0..count).map(|i| (i + round) % count).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians_and_ratios() {
        assert_eq!(median(&[]), None);
        assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&[4.0, 1.0, 3.0, 2.0]), Some(2.5));
        assert_eq!(median(&[f64::NAN, 1.0]), Some(1.0));
        // Per-round ratios 1.5, 1.0, 2.0: the median is 1.5 (the ratio of the medians would be 1.2).
        assert_eq!(median_ratio(&[3.0, 2.0, 12.0], &[2.0, 2.0, 6.0]), Some(1.5));
        assert_eq!(median_ratio(&[1.0], &[0.0]), None);
    }

    #[test]
    fn every_competitor_goes_first_in_turn() {
        assert_eq!(rotation(3, 0), [0, 1, 2]);
        assert_eq!(rotation(3, 1), [1, 2, 0]);
        assert_eq!(rotation(3, 5), [2, 0, 1]);
    }
}
