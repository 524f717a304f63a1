//! The review corpus: determinism, the sentiment mix, the format of every
//! review, its vocabulary, and how often the judge agrees with the intended
//! sentiment.

use std::collections::{BTreeSet, HashMap};

use plumb_judge::reviews::{MAX_WORDS, MIN_WORDS};
use plumb_judge::{Sentiment, corpus, prompts, sentiment, vocabulary};

#[test]
fn a_seed_fixes_the_corpus_and_seeds_differ() {
    let a = corpus(7, 2000);
    assert_eq!(a, corpus(7, 2000));
    assert_eq!(a[..500], corpus(7, 500)[..]);
    let b = corpus(8, 2000);
    let same = a.iter().zip(&b).filter(|(x, y)| x == y).count();
    // Short reviews can coincide by chance, but rarely.
    assert!(same < 40, "{same} of 2000 reviews equal across seeds");
    let distinct: BTreeSet<&str> = a.iter().map(|r| r.completion.as_str()).collect();
    assert!(distinct.len() > 1800, "only {} distinct completions of 2000", distinct.len());
}

#[test]
fn the_mix_is_about_forty_forty_twenty_and_every_prompt_is_shared() {
    let reviews = corpus(1, 20_000);
    let mut counts: HashMap<Sentiment, usize> = HashMap::new();
    for review in &reviews {
        *counts.entry(review.sentiment).or_default() += 1;
    }
    let share = |s| counts.get(&s).copied().unwrap_or(0) as f64 / reviews.len() as f64;
    let (pos, neg, mixed) = (share(Sentiment::Positive), share(Sentiment::Negative), share(Sentiment::Mixed));
    println!("positive {pos:.3}, negative {neg:.3}, mixed {mixed:.3}");
    assert!((0.38..0.43).contains(&pos) && (0.38..0.43).contains(&neg) && (0.16..0.22).contains(&mixed));
    let prompts = prompts();
    assert_eq!(prompts.len(), 20);
    assert_eq!(prompts.iter().collect::<BTreeSet<_>>().len(), 20);
    for prompt in &prompts {
        let uses = reviews.iter().filter(|r| &r.prompt == prompt).count();
        assert!(uses > 800, "{prompt}: {uses} reviews");
    }
}

#[test]
fn every_review_has_the_documented_format() {
    let prompts = prompts();
    let vocabulary = vocabulary();
    let mut seen = BTreeSet::new();
    let mut lengths = [usize::MAX, 0];
    for review in corpus(2, 20_000) {
        let c = &review.completion;
        assert!(prompts.contains(&review.prompt), "{}", review.prompt);
        assert!(review.prompt.is_ascii() && c.is_ascii(), "{c:?}");
        assert!(c.starts_with(' ') && !c.starts_with("  ") && c.ends_with('.'), "{c:?}");
        assert!(!c.contains("  ") && !c.contains(" .") && !c.contains(" ,"), "{c:?}");
        // The first sentence continues the prompt; the others start with a capital.
        assert!(c[1..].starts_with(|ch: char| ch.is_ascii_lowercase()), "{c:?}");
        let sentences: Vec<&str> = c[1..c.len() - 1].split(". ").collect();
        assert!((1..=3).contains(&sentences.len()), "{c:?}");
        assert!(sentences[1..].iter().all(|s| s.starts_with(|ch: char| ch.is_ascii_uppercase())), "{c:?}");
        let words = c.split_whitespace().count();
        assert!((MIN_WORDS..=MAX_WORDS).contains(&words), "{words} words: {c:?}");
        lengths = [lengths[0].min(words), lengths[1].max(words)];
        for word in review.text().split_whitespace() {
            let word = word.trim_end_matches(['.', ',']);
            assert!(vocabulary.contains(word), "{word:?} is not in vocabulary()");
            seen.insert(word.to_owned());
        }
    }
    println!("completion lengths {}..={} words", lengths[0], lengths[1]);
    // vocabulary() is exact: a large corpus emits every word in it.
    let never: Vec<&&str> = vocabulary.iter().filter(|w| !seen.contains(**w)).collect();
    assert!(never.is_empty(), "never emitted: {never:?}");
    let folded: BTreeSet<String> = vocabulary.iter().map(|w| w.to_lowercase()).collect();
    println!("vocabulary: {} words as written, {} lowercased", vocabulary.len(), folded.len());
    assert!((200..=400).contains(&vocabulary.len()));
}

#[test]
fn the_judge_agrees_with_the_intended_sentiment() {
    let (mut pos, mut pos_right, mut neg, mut neg_right) = (0usize, 0usize, 0usize, 0usize);
    let mut magnitude: HashMap<Sentiment, (f64, usize)> = HashMap::new();
    for seed in 0..5 {
        for review in corpus(seed, 20_000) {
            let score = sentiment(&review.text());
            assert_eq!(score, sentiment(&review.completion), "the prompt carries no sentiment");
            match review.sentiment {
                Sentiment::Positive => (pos, pos_right) = (pos + 1, pos_right + usize::from(score > 0.0)),
                Sentiment::Negative => (neg, neg_right) = (neg + 1, neg_right + usize::from(score < 0.0)),
                Sentiment::Mixed => {}
            }
            let entry = magnitude.entry(review.sentiment).or_default();
            *entry = (entry.0 + score.abs(), entry.1 + 1);
        }
    }
    let pos_rate = pos_right as f64 / pos as f64;
    let neg_rate = neg_right as f64 / neg as f64;
    let mean = |s| magnitude.get(&s).map_or(0.0, |&(sum, n)| sum / n as f64);
    println!("positive reviews scored > 0: {pos_right}/{pos} = {pos_rate:.4}");
    println!("negative reviews scored < 0: {neg_right}/{neg} = {neg_rate:.4}");
    println!(
        "mean |score|: positive {:.3}, negative {:.3}, mixed {:.3}",
        mean(Sentiment::Positive),
        mean(Sentiment::Negative),
        mean(Sentiment::Mixed)
    );
    assert!(pos_rate >= 0.99 && neg_rate >= 0.99);
    assert!(mean(Sentiment::Mixed) < 0.5 * mean(Sentiment::Positive).min(mean(Sentiment::Negative)));
}

#[test]
fn every_prompt_scores_zero() {
    assert!(prompts().iter().all(|p| sentiment(p) == 0.0));
}

#[test]
fn reviews_serialise_as_jsonl_rows() {
    let review = &corpus(3, 1)[0];
    let json = serde_json::to_string(review).expect("a review serialises");
    let expected = format!(
        r#"{{"prompt":"{}","completion":"{}","sentiment":"{}"}}"#,
        review.prompt,
        review.completion,
        format!("{:?}", review.sentiment).to_lowercase()
    );
    assert_eq!(json, expected);
    assert_eq!(serde_json::from_str::<plumb_judge::Review>(&json).expect("round trip"), *review);
}
