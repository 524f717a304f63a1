//! The judge's rules on hand-written texts, and its robustness on arbitrary input.

use std::cmp::Ordering;

use plumb_judge::judge::{INTENSIFIER_FACTOR, NEGATION_WINDOW};
use plumb_judge::{judge, label_pair, lexicon, prefers, sentiment};
use proptest::prelude::*;

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-12
}

#[test]
fn the_score_is_the_smoothed_balance_of_opinion() {
    assert!(close(sentiment("good"), 0.5));
    assert!(close(sentiment("bad"), -0.5));
    assert!(close(sentiment("excellent"), 2.0 / 3.0));
    assert!(close(sentiment("great but awful"), (1.0 - 2.0) / (1.0 + 2.0 + 1.0)));
    assert!(close(sentiment("fine"), 0.5 / 1.5));
    let j = judge("Good, great and excellent!");
    assert_eq!((j.positive, j.negative, j.hits.len()), (4.0, 0.0, 3));
    assert!(close(j.score, 0.8));
}

#[test]
fn text_without_sentiment_words_scores_zero() {
    for text in ["", " ", "The kettle", "arrived on Monday in a blue box.", "not very", "zzz qqq 123", "...!!!"] {
        assert_eq!(sentiment(text), 0.0, "{text:?}");
    }
}

#[test]
fn negation_flips_the_next_sentiment_word() {
    assert!(sentiment("not good") < 0.0);
    assert!(sentiment("not bad") > 0.0);
    assert!(close(sentiment("not good"), -sentiment("good")));
    assert!(sentiment("It is never reliable") < 0.0);
    assert!(sentiment("I had no problems") > 0.0);
    assert!(sentiment("works without issues") > 0.0);
    // Contractions, with or without the apostrophe, straight or curly.
    for text in ["isn't good", "isn\u{2019}t good", "isnt good", "DOESN'T work well", "wouldn't recommend it"] {
        assert!(sentiment(text) < 0.0, "{text:?}");
    }
    // Only the next sentiment word: "not good, great" keeps "great".
    let j = judge("not good and great");
    assert_eq!(j.hits.iter().map(|h| h.negated).collect::<Vec<_>>(), [true, false]);
    // Two negations cancel.
    assert!(sentiment("not without problems") < 0.0);
}

#[test]
fn the_negation_window_is_three_words_within_a_clause() {
    assert_eq!(NEGATION_WINDOW, 3);
    assert!(sentiment("not really that good") < 0.0, "third word: flipped");
    assert!(sentiment("not in any way good") > 0.0, "fourth word: out of reach");
    assert!(sentiment("not. good") > 0.0);
    assert!(sentiment("Not cheap, good") > 0.0);
    assert!(sentiment("not cheap but good") > 0.0);
}

#[test]
fn intensifiers_increase_the_magnitude() {
    assert!(close(judge("very good").positive, INTENSIFIER_FACTOR));
    assert!(sentiment("very good") > sentiment("good"));
    assert!(sentiment("really bad") < sentiment("bad"));
    assert!(sentiment("not very good") < sentiment("not good"));
    assert!(sentiment("so excellent") > sentiment("excellent"));
    // Repeats do not stack, and an intensifier reaches only an adjacent word.
    assert!(close(sentiment("very very very good"), sentiment("very good")));
    assert!(close(sentiment("so I think it is good"), sentiment("good")));
}

#[test]
fn case_and_punctuation_do_not_matter() {
    assert_eq!(sentiment("GOOD!!!"), sentiment("good"));
    assert_eq!(sentiment("(Excellent)"), sentiment("excellent"));
    assert_eq!(sentiment("Not Bad"), sentiment("not bad"));
    assert_eq!(sentiment("well-made"), sentiment("well made"));
}

#[test]
fn preferences_follow_the_scores() {
    assert_eq!(prefers("is great.", "is terrible."), Some(Ordering::Greater));
    assert_eq!(prefers("is bad.", "is fine."), Some(Ordering::Less));
    assert_eq!(prefers("is good.", "is nice."), None);
    assert_eq!(label_pair("is bad.", "is superb."), Some(("is superb.", "is bad.")));
    assert_eq!(label_pair("is superb.", "is bad."), Some(("is superb.", "is bad.")));
    assert_eq!(label_pair("arrived on Monday.", "came in a box."), None);
}

#[test]
fn the_lexicon_is_consistent() {
    let lexicon = lexicon();
    let mut all: Vec<&str> = lexicon.positive.iter().chain(lexicon.negative).map(|&(w, _)| w).collect();
    all.extend(lexicon.negations.iter().chain(lexicon.intensifiers).chain(lexicon.clause_breaks));
    let count = all.len();
    all.sort_unstable();
    all.dedup();
    assert_eq!(all.len(), count, "a word is in two lists");
    assert!(all.iter().all(|w| w.bytes().all(|b| b.is_ascii_lowercase())));
    let weights = lexicon.positive.iter().chain(lexicon.negative).map(|&(_, w)| w);
    assert!(weights.into_iter().all(|w| [0.5, 1.0, 2.0].contains(&w)));
    assert_eq!(lexicon.weight("terrible"), Some(-2.0));
    assert_eq!(lexicon.weight("kettle"), None);
    println!(
        "{} positive, {} negative, {} negations, {} intensifiers",
        lexicon.positive.len(),
        lexicon.negative.len(),
        lexicon.negations.len(),
        lexicon.intensifiers.len()
    );
}

#[test]
fn piling_up_praise_games_the_judge() {
    // The documented blind spot: repetition pushes the score towards 1.
    let honest = sentiment("is good.");
    let gamed = sentiment("is good good great great excellent excellent amazing amazing.");
    assert!(gamed > 0.9 && gamed > honest);
    // The other blind spots docs/judge.md lists.
    assert!(sentiment("not the kind of kettle that is good") > 0.0);
    assert_eq!(sentiment("great, it broke on day two"), 0.0);
    assert_eq!(sentiment("The lid could be better."), 0.0);
    assert!(sentiment("It is okay.") > sentiment("The sound is great, but the battery is weak."));
}

proptest! {
    #[test]
    fn any_text_gets_a_finite_score_in_range(text in any::<String>()) {
        let score = sentiment(&text);
        prop_assert!(score.is_finite() && (-1.0..=1.0).contains(&score));
    }

    #[test]
    fn word_salad_gets_a_finite_score_in_range(
        words in proptest::collection::vec(
            prop_oneof![
                Just("not"), Just("very"), Just("good"), Just("terrible"), Just("but"), Just("."),
                Just("n't"), Just("’"), Just("fine"), Just("x"), Just("ÄÖ"), Just("\u{0130}"),
            ],
            0..60,
        )
    ) {
        let text = words.join(" ");
        let j = judge(&text);
        prop_assert!(j.score.is_finite() && j.score > -1.0 && j.score < 1.0);
        prop_assert!(j.positive >= 0.0 && j.negative >= 0.0);
        prop_assert_eq!(j.score == 0.0, j.positive == j.negative);
    }

    #[test]
    fn preference_is_antisymmetric(a in "[a-z .,']{0,40}", b in "(good|bad|not|very|fine| )*") {
        prop_assert_eq!(prefers(&a, &b), prefers(&b, &a).map(Ordering::reverse));
    }
}
