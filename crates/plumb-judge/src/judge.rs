//! The lexicon sentiment judge: a score in [-1, 1] for any text, with negation
//! and intensifier rules, and the pairwise preference derived from it. It is
//! the demo's ground-truth reward (docs/judge.md).

use std::cmp::Ordering;
use std::collections::HashMap;
use std::sync::LazyLock;

/// A negation flips the next sentiment word among the next this-many words.
pub const NEGATION_WINDOW: usize = 3;
/// An intensifier multiplies the weight of the sentiment word it modifies.
pub const INTENSIFIER_FACTOR: f64 = 1.5;
/// Scores closer than this are a tie for [`prefers`].
pub const TIE_TOLERANCE: f64 = 1e-12;

/// Positive words with their weights: 0.5 mild, 1 plain, 2 strong.
const POSITIVE: &[(&str, f64)] = &[
    // Mild.
    ("fine", 0.5),
    ("decent", 0.5),
    ("okay", 0.5),
    ("ok", 0.5),
    ("alright", 0.5),
    ("adequate", 0.5),
    // Plain.
    ("good", 1.0),
    ("great", 1.0),
    ("nice", 1.0),
    ("solid", 1.0),
    ("sturdy", 1.0),
    ("reliable", 1.0),
    ("comfortable", 1.0),
    ("impressive", 1.0),
    ("lovely", 1.0),
    ("pleasant", 1.0),
    ("sleek", 1.0),
    ("well", 1.0),
    ("nicely", 1.0),
    ("smoothly", 1.0),
    ("beautifully", 1.0),
    ("recommend", 1.0),
    ("recommended", 1.0),
    ("worth", 1.0),
    ("happy", 1.0),
    ("glad", 1.0),
    ("pleased", 1.0),
    ("satisfied", 1.0),
    ("happily", 1.0),
    ("enjoy", 1.0),
    ("enjoyed", 1.0),
    ("enjoys", 1.0),
    ("beautiful", 1.0),
    ("useful", 1.0),
    ("helpful", 1.0),
    ("easy", 1.0),
    ("quiet", 1.0),
    ("durable", 1.0),
    ("handy", 1.0),
    ("favorite", 1.0),
    ("favourite", 1.0),
    ("fun", 1.0),
    ("elegant", 1.0),
    ("stylish", 1.0),
    ("recommends", 1.0),
    // Strong.
    ("excellent", 2.0),
    ("amazing", 2.0),
    ("fantastic", 2.0),
    ("perfect", 2.0),
    ("perfectly", 2.0),
    ("superb", 2.0),
    ("outstanding", 2.0),
    ("wonderful", 2.0),
    ("brilliant", 2.0),
    ("awesome", 2.0),
    ("flawless", 2.0),
    ("flawlessly", 2.0),
    ("love", 2.0),
    ("loved", 2.0),
    ("loves", 2.0),
    ("best", 2.0),
    ("incredible", 2.0),
    ("terrific", 2.0),
    ("delighted", 2.0),
    ("exceptional", 2.0),
];

/// Negative words with the magnitudes of their (negative) weights.
const NEGATIVE: &[(&str, f64)] = &[
    // Mild.
    ("mediocre", 0.5),
    ("meh", 0.5),
    ("sadly", 0.5),
    ("unfortunately", 0.5),
    // Plain.
    ("bad", 1.0),
    ("poor", 1.0),
    ("poorly", 1.0),
    ("badly", 1.0),
    ("weak", 1.0),
    ("flimsy", 1.0),
    ("fragile", 1.0),
    ("unreliable", 1.0),
    ("uncomfortable", 1.0),
    ("disappointing", 1.0),
    ("disappointed", 1.0),
    ("annoying", 1.0),
    ("lousy", 1.0),
    ("subpar", 1.0),
    ("broke", 1.0),
    ("broken", 1.0),
    ("stopped", 1.0),
    ("problem", 1.0),
    ("problems", 1.0),
    ("issue", 1.0),
    ("issues", 1.0),
    ("fail", 1.0),
    ("fails", 1.0),
    ("failed", 1.0),
    ("faulty", 1.0),
    ("defective", 1.0),
    ("refund", 1.0),
    ("returned", 1.0),
    ("regret", 1.0),
    ("avoid", 1.0),
    ("waste", 1.0),
    ("wasted", 1.0),
    ("unhappy", 1.0),
    ("ugly", 1.0),
    ("noisy", 1.0),
    ("slow", 1.0),
    ("leaks", 1.0),
    ("leaky", 1.0),
    ("cheaply", 1.0),
    ("frustrating", 1.0),
    ("difficult", 1.0),
    ("sad", 1.0),
    // Strong.
    ("terrible", 2.0),
    ("terribly", 2.0),
    ("awful", 2.0),
    ("awfully", 2.0),
    ("horrible", 2.0),
    ("dreadful", 2.0),
    ("useless", 2.0),
    ("pathetic", 2.0),
    ("hate", 2.0),
    ("hated", 2.0),
    ("hates", 2.0),
    ("worst", 2.0),
    ("junk", 2.0),
    ("garbage", 2.0),
    ("disaster", 2.0),
];

/// Words that flip the next sentiment word; any token ending in `n't` counts too.
const NEGATIONS: &[&str] = &[
    "not", "no", "never", "nothing", "none", "neither", "nor", "without", "hardly", "barely", "cannot", "dont",
    "doesnt", "didnt", "isnt", "wasnt", "arent", "werent", "cant", "wont", "couldnt", "wouldnt", "shouldnt", "havent",
    "hasnt", "aint",
];

/// Words that strengthen the next sentiment word.
const INTENSIFIERS: &[&str] = &[
    "very",
    "really",
    "so",
    "extremely",
    "super",
    "truly",
    "incredibly",
    "absolutely",
    "totally",
    "highly",
    "especially",
    "seriously",
];

/// Words that end a clause: a pending negation or intensifier does not cross them.
const CLAUSE_BREAKS: &[&str] = &["but", "however", "although", "though", "yet"];

/// Punctuation that ends a clause, as [`CLAUSE_BREAKS`] do.
const CLAUSE_PUNCTUATION: &[char] = &['.', ',', ';', ':', '!', '?', '\u{2026}'];

/// The judge's word lists, for documentation and tests.
#[derive(Clone, Copy, Debug)]
pub struct Lexicon {
    /// Positive words and weights (0.5, 1 or 2).
    pub positive: &'static [(&'static str, f64)],
    /// Negative words and the magnitudes of their weights (0.5, 1 or 2).
    pub negative: &'static [(&'static str, f64)],
    pub negations: &'static [&'static str],
    pub intensifiers: &'static [&'static str],
    pub clause_breaks: &'static [&'static str],
}

impl Lexicon {
    /// The signed weight of a lowercase word, if it carries sentiment.
    pub fn weight(&self, word: &str) -> Option<f64> {
        match WORDS.get(word) {
            Some(Class::Sentiment(weight)) => Some(*weight),
            _ => None,
        }
    }
}

/// The judge's lexicon.
pub fn lexicon() -> Lexicon {
    Lexicon {
        positive: POSITIVE,
        negative: NEGATIVE,
        negations: NEGATIONS,
        intensifiers: INTENSIFIERS,
        clause_breaks: CLAUSE_BREAKS,
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Class {
    Sentiment(f64),
    Negation,
    Intensifier,
    Break,
}

static WORDS: LazyLock<HashMap<&'static str, Class>> = LazyLock::new(|| {
    let mut words = HashMap::new();
    words.extend(POSITIVE.iter().map(|&(word, weight)| (word, Class::Sentiment(weight))));
    words.extend(NEGATIVE.iter().map(|&(word, weight)| (word, Class::Sentiment(-weight))));
    words.extend(NEGATIONS.iter().map(|&word| (word, Class::Negation)));
    words.extend(INTENSIFIERS.iter().map(|&word| (word, Class::Intensifier)));
    words.extend(CLAUSE_BREAKS.iter().map(|&word| (word, Class::Break)));
    words
});

/// One sentiment word as the judge counted it.
#[derive(Clone, Debug, PartialEq)]
pub struct Hit {
    /// The word, lowercased.
    pub word: String,
    /// Its contribution: the lexicon weight, ×1.5 if intensified, negated if flipped.
    pub weight: f64,
    pub negated: bool,
    pub intensified: bool,
}

/// The judge's reading of a text.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Judgement {
    /// (positive − negative) / (positive + negative + 1), in (-1, 1).
    pub score: f64,
    /// Sum of the positive contributions.
    pub positive: f64,
    /// Sum of the magnitudes of the negative contributions.
    pub negative: f64,
    /// The sentiment words in text order.
    pub hits: Vec<Hit>,
}

enum Token {
    Word(String),
    Break,
}

/// Lowercase words of letters, digits and inner apostrophes (curly ones
/// normalised); clause punctuation becomes a break, everything else separates.
fn tokens(text: &str) -> Vec<Token> {
    let mut out = Vec::new();
    let mut word = String::new();
    let flush = |word: &mut String, out: &mut Vec<Token>| {
        let trimmed = word.trim_end_matches('\'');
        if !trimmed.is_empty() {
            out.push(Token::Word(trimmed.to_owned()));
        }
        word.clear();
    };
    for c in text.chars() {
        if c.is_alphanumeric() {
            word.extend(c.to_lowercase());
        } else if matches!(c, '\'' | '\u{2019}' | '\u{2018}' | '`') {
            if !word.is_empty() {
                word.push('\'');
            }
        } else {
            flush(&mut word, &mut out);
            if CLAUSE_PUNCTUATION.contains(&c) {
                out.push(Token::Break);
            }
        }
    }
    flush(&mut word, &mut out);
    out
}

fn classify(word: &str) -> Option<Class> {
    WORDS.get(word).copied().or_else(|| word.ends_with("n't").then_some(Class::Negation))
}

/// Reads a text: finds its sentiment words and applies negations and intensifiers.
///
/// A negation (`not`, `never`, `no`, `isn't`, …) flips the sign of the next
/// sentiment word if it comes within [`NEGATION_WINDOW`] words; a second
/// negation inside the window cancels the first (`not without problems` is
/// negative). An intensifier multiplies the next sentiment word by
/// [`INTENSIFIER_FACTOR`] if only negations and intensifiers stand between
/// them (repeats do not stack). Clause punctuation and `but`, `however`, … end
/// both.
pub fn judge(text: &str) -> Judgement {
    let mut judgement = Judgement::default();
    let mut negation_left = 0usize;
    let mut negated = false;
    let mut intensified = false;
    for token in tokens(text) {
        let word = match token {
            Token::Word(word) => word,
            Token::Break => {
                (negated, negation_left, intensified) = (false, 0, false);
                continue;
            }
        };
        match classify(&word) {
            Some(Class::Sentiment(weight)) => {
                let flip = negated && negation_left > 0;
                let mut contribution = if intensified { weight * INTENSIFIER_FACTOR } else { weight };
                if flip {
                    contribution = -contribution;
                }
                if contribution > 0.0 {
                    judgement.positive += contribution;
                } else {
                    judgement.negative -= contribution;
                }
                judgement.hits.push(Hit { word, weight: contribution, negated: flip, intensified });
                (negated, negation_left, intensified) = (false, 0, false);
            }
            Some(Class::Negation) => {
                negated = !(negated && negation_left > 0);
                negation_left = NEGATION_WINDOW;
            }
            Some(Class::Intensifier) => {
                intensified = true;
                negation_left = negation_left.saturating_sub(1);
            }
            Some(Class::Break) => (negated, negation_left, intensified) = (false, 0, false),
            None => {
                intensified = false;
                negation_left = negation_left.saturating_sub(1);
            }
        }
    }
    let (p, n) = (judgement.positive, judgement.negative);
    judgement.score = (p - n) / (p + n + 1.0);
    judgement
}

/// The sentiment of a text in (-1, 1): 0 when it has no sentiment words.
/// Never panics; any UTF-8 text is accepted.
pub fn sentiment(text: &str) -> f64 {
    judge(text).score
}

/// Which of two texts the judge prefers: `Greater` if `a`, `Less` if `b`,
/// `None` on a tie (scores within [`TIE_TOLERANCE`]).
pub fn prefers(a: &str, b: &str) -> Option<Ordering> {
    let (sa, sb) = (sentiment(a), sentiment(b));
    if (sa - sb).abs() <= TIE_TOLERANCE {
        None
    } else if sa > sb {
        Some(Ordering::Greater)
    } else {
        Some(Ordering::Less)
    }
}

/// A preference pair as the judge labels it: `(chosen, rejected)`, or `None`
/// on a tie (such pairs carry no preference and are dropped).
pub fn label_pair<'a>(a: &'a str, b: &'a str) -> Option<(&'a str, &'a str)> {
    match prefers(a, b)? {
        Ordering::Less => Some((b, a)),
        _ => Some((a, b)),
    }
}
