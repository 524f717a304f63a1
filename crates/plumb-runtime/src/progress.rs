//! Progress bars on stderr, in one style for every stage of a run.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

const TEMPLATE: &str = "{prefix} [{bar:30}] {pos}/{len} {msg} ({elapsed}, eta {eta})";

/// A bar of `len` steps labelled `label`, drawn on stderr. It is hidden when
/// `quiet`, and indicatif hides it by itself when stderr is not a terminal
/// (or `TERM=dumb`), so logs and CI output carry no bar.
pub fn bar(len: u64, label: &str, quiet: bool) -> ProgressBar {
    let target = if quiet { ProgressDrawTarget::hidden() } else { ProgressDrawTarget::stderr() };
    let style =
        ProgressStyle::with_template(TEMPLATE).unwrap_or_else(|_| ProgressStyle::default_bar()).progress_chars("=> ");
    let bar = ProgressBar::with_draw_target(Some(len), target).with_style(style);
    bar.set_prefix(label.to_string());
    bar
}

#[cfg(test)]
mod tests {
    use std::io::IsTerminal;

    use super::*;

    #[test]
    fn the_template_parses() {
        assert!(ProgressStyle::with_template(TEMPLATE).is_ok());
    }

    #[test]
    fn quiet_hides_and_a_non_terminal_hides() {
        let quiet = bar(10, "train", true);
        assert!(quiet.is_hidden());
        assert_eq!(quiet.length(), Some(10));

        let loud = bar(10, "train", false);
        assert_eq!(loud.is_hidden(), !std::io::stderr().is_terminal());
        loud.inc(3);
        assert_eq!(loud.position(), 3);
        loud.finish_and_clear();
    }
}
