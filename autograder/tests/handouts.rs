//! Handouts stay true to the code: each rubric table equals `autograder list --format
//! markdown`, between the markers `<!-- rubric:LAB -->` and `<!-- /rubric -->`.

use crate::support::*;

#[test]
fn every_handout_rubric_table_matches_the_rubric() {
    for lab in autograder::labs::LABS {
        let path = workspace().join(lab.handout);
        let text =
            std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let open = format!("<!-- rubric:{} -->\n", lab.name);
        let start = text
            .find(&open)
            .unwrap_or_else(|| panic!("{} has no `{}` marker", lab.handout, open.trim()))
            + open.len();
        let end = start
            + text[start..]
                .find("<!-- /rubric -->")
                .expect("closing marker");
        let expected = autograder::cli::rubric_markdown(lab);
        assert_eq!(
            &text[start..end],
            expected,
            "{}'s rubric table is out of date; replace it with `autograder list {} --format markdown`",
            lab.handout,
            lab.name
        );
    }
}
