//! The demo corpus: short English product reviews, generated deterministically
//! from a seed out of small word lists and sentence templates.
//!
//! Every review is a prompt `The <product>` (20 products, so 20 prompts) and a
//! completion that continues the prompt's sentence: a leading space, 1 to 3
//! sentences in normal sentence case, 8 to 30 words, ASCII, ending with a
//! period — e.g. `The kettle` + ` is really great. I would recommend it.`

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::rng::{SplitMix64, mix64};

/// The sentiment a review was generated with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Sentiment {
    Positive,
    Negative,
    /// Neither: praise and complaint together, or plain facts.
    Mixed,
}

/// One generated review: `prompt + completion` is the full text.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Review {
    /// `The <product>`, with no trailing space.
    pub prompt: String,
    /// The continuation, starting with a space and ending with a period.
    pub completion: String,
    pub sentiment: Sentiment,
}

impl Review {
    /// The whole review: prompt followed by completion.
    pub fn text(&self) -> String {
        format!("{}{}", self.prompt, self.completion)
    }
}

/// The fewest and most words in a completion.
pub const MIN_WORDS: usize = 8;
pub const MAX_WORDS: usize = 30;

/// The share of positive and of negative reviews; the rest are mixed.
pub const POSITIVE_SHARE: f64 = 0.4;
pub const NEGATIVE_SHARE: f64 = 0.4;

struct Product {
    name: &'static str,
    plural: bool,
    /// Parts specific to the product, each with whether it is plural.
    parts: &'static [(&'static str, bool)],
}

const fn product(name: &'static str, plural: bool, parts: &'static [(&'static str, bool)]) -> Product {
    Product { name, plural, parts }
}

const PRODUCTS: &[Product] = &[
    product("blender", false, &[("motor", false), ("blades", true), ("lid", false), ("jar", false)]),
    product("kettle", false, &[("handle", false), ("lid", false), ("spout", false), ("switch", false)]),
    product("lamp", false, &[("light", false), ("switch", false), ("base", false), ("shade", false)]),
    product("backpack", false, &[("straps", true), ("zipper", false), ("pockets", true), ("fabric", false)]),
    product("toaster", false, &[("slots", true), ("timer", false), ("dial", false), ("tray", false)]),
    product("umbrella", false, &[("canopy", false), ("handle", false), ("frame", false), ("button", false)]),
    product("mug", false, &[("handle", false), ("glaze", false), ("lid", false), ("color", false)]),
    product("chair", false, &[("seat", false), ("cushion", false), ("wheels", true), ("backrest", false)]),
    product("desk", false, &[("surface", false), ("drawer", false), ("legs", true), ("frame", false)]),
    product("blanket", false, &[("fabric", false), ("stitching", false), ("color", false), ("size", false)]),
    product("jacket", false, &[("zipper", false), ("hood", false), ("pockets", true), ("lining", false)]),
    product("speaker", false, &[("sound", false), ("bass", false), ("battery", false), ("buttons", true)]),
    product("keyboard", false, &[("keys", true), ("backlight", false), ("cable", false), ("layout", false)]),
    product("mouse", false, &[("buttons", true), ("wheel", false), ("grip", false), ("cable", false)]),
    product("charger", false, &[("cable", false), ("plug", false), ("speed", false), ("adapter", false)]),
    product("camera", false, &[("lens", false), ("battery", false), ("screen", false), ("focus", false)]),
    product("watch", false, &[("strap", false), ("screen", false), ("battery", false), ("clasp", false)]),
    product("pillow", false, &[("filling", false), ("cover", false), ("shape", false), ("fabric", false)]),
    product("headphones", true, &[("sound", false), ("bass", false), ("battery", false), ("cushions", true)]),
    product("sneakers", true, &[("soles", true), ("laces", true), ("fit", false), ("insoles", true)]),
];

/// Aspects that any product has.
const GENERIC_ASPECTS: &[(&str, bool)] =
    &[("price", false), ("design", false), ("quality", false), ("packaging", false)];

// Sentiment vocabulary by strength (the judge's weights: plain 1, strong 2).
const POS_PLAIN: &[&str] = &["good", "great", "nice", "solid", "impressive", "lovely", "pleasant"];
const POS_STRONG: &[&str] =
    &["excellent", "amazing", "fantastic", "perfect", "superb", "outstanding", "wonderful", "brilliant", "awesome"];
/// Said of a product, not of an aspect ("the price is sturdy" would be odd).
const POS_PRODUCT: &[&str] = &["sturdy", "reliable", "durable"];
const NEG_PLAIN: &[&str] = &["bad", "poor", "weak", "disappointing", "annoying", "lousy", "subpar"];
const NEG_STRONG: &[&str] = &["terrible", "awful", "horrible", "dreadful", "useless", "pathetic"];
const NEG_PRODUCT: &[&str] = &["flimsy", "fragile", "unreliable"];
const POS_ADVERBS: &[&str] = &["perfectly", "beautifully", "flawlessly", "well", "nicely", "smoothly"];
const NEG_ADVERBS: &[&str] = &["poorly", "badly", "terribly"];
/// Weak verdicts of either sign, for mixed reviews.
const MILD: &[&str] = &["fine", "decent", "okay", "mediocre"];
const INTENSIFIERS: &[&str] = &["really", "very", "extremely", "truly", "super", "so"];
const NOUNS: &[&str] = &["buy", "purchase", "product", "choice", "gift"];
const PROBLEMS: &[&str] = &["problems", "issues"];
const DAYS: &[&str] = &["Monday", "Tuesday", "Friday", "Saturday"];
const COLORS: &[&str] = &["blue", "black", "white", "red", "green", "gray"];
const SIZES: &[&str] = &["small", "large", "tall", "compact"];
const MATERIALS: &[&str] = &["plastic", "steel", "wood", "cotton", "glass", "leather", "metal"];
const NUMBERS: &[&str] = &["two", "three", "four", "five", "six"];
const UNITS: &[&str] = &["days", "weeks", "months"];
const PEOPLE: &[&str] = &["sister", "brother", "mom", "dad", "son", "daughter", "wife", "husband", "friend"];

// Templates. A first sentence continues the prompt, so its subject is the
// product; a later sentence starts with a capital. Slots: {is}, {works},
// {has}, {does} agree with the current subject (the product, or the aspect
// most recently drawn); {It}/{it_s} make the product the subject (It/They,
// it/they), {it} is its object form (it/them); {a} becomes "an" before a vowel
// sound; {int} is an intensifier half of the time and nothing otherwise.
const FIRST_POSITIVE: &[&str] = &[
    "{is} {int} {pos}.",
    "{is} {int} {pos} and {int} {pos}.",
    "{works} {posadv}.",
    "{is} {a} {int} {pos} {noun}.",
    "{is} not {neg1} at all.",
    "{is} {pos} and {works} {posadv}.",
    "{has} no {problems} at all.",
    "{is} {int} {pos}, and the {aspect} {is} {pos} too.",
];
const FIRST_NEGATIVE: &[&str] = &[
    "{is} {int} {neg}.",
    "{is} {int} {neg} and {int} {neg}.",
    "{works} {negadv}.",
    "{is} {a} {int} {neg} {noun}.",
    "{is} not {int} {pos1} at all.",
    "broke after {num} {unit}.",
    "stopped working after {num} {unit}.",
    "{is} {int} {neg}, and the {aspect} {is} {neg} too.",
];
const FIRST_BALANCED: &[&str] =
    &["{is} {pos}, but the {aspect} {is} {neg}.", "{is} {neg}, but the {aspect} {is} {pos}."];
const FIRST_FACTUAL: &[&str] =
    &["arrived on {day}.", "{is} {color} and {size}.", "came in a {color} box.", "{is} made of {material}."];
const ASPECT_POSITIVE: &[&str] = &[
    "The {aspect} {is} {int} {pos}.",
    "The {aspect} {is} {pos} too.",
    "I love the {aspect}.",
    "The {aspect} {is} not {neg1} at all.",
    "I had no {problems} with the {aspect}.",
    "The {aspect} {is} {int} {pos} and {pos}.",
];
const ASPECT_NEGATIVE: &[&str] = &[
    "The {aspect} {is} {int} {neg}.",
    "The {aspect} {is} {neg} too.",
    "I hate the {aspect}.",
    "The {aspect} {is} not {pos1} at all.",
    "I had {problems} with the {aspect}.",
    "The {aspect} {is} {int} {neg} and {neg}.",
];
const VERDICT_POSITIVE: &[&str] = &[
    "I would recommend {it}.",
    "Highly recommended.",
    "Worth every penny.",
    "I love {it}.",
    "I am {int} happy with {it}.",
    "Overall, {it_s} {is} {int} {pos}.",
    "My {person} loves {it}.",
    "I would buy {it} again.",
];
const VERDICT_NEGATIVE: &[&str] = &[
    "I would not recommend {it}.",
    "I want a refund.",
    "Waste of money.",
    "I regret buying {it}.",
    "Overall, {it_s} {is} {int} {neg}.",
    "I returned {it}.",
    "Avoid {it}.",
    "I am not happy with {it}.",
    "I would never buy {it} again.",
];
// A small complaint outweighed by strong praise, and the reverse: the sum of
// the sentence's weights keeps the review's sign.
const CONTRAST_POSITIVE: &[&str] = &[
    "The {aspect} {is} a bit {neg1}, but overall {it_s} {is} {pos2}.",
    "The {aspect} could be better, but {it_s} {is} {pos2}.",
];
const CONTRAST_NEGATIVE: &[&str] =
    &["The {aspect} {is} {pos1}, but overall {it_s} {is} {neg2}.", "The {aspect} {is} fine, but {it_s} {is} {neg2}."];
const VERDICT_MIXED: &[&str] = &["Overall, {it_s} {is} {mild}.", "{It} {does} the job.", "{It} {is} average."];
/// Sentences with no sentiment words.
const FILLER: &[&str] = &[
    "I bought {it} for my {person}.",
    "{It} arrived on {day}.",
    "{It} came in a {color} box.",
    "I have used {it} for {num} {unit}.",
    "I use {it} every day.",
    "The {aspect} could be better.",
];

/// Every template list (for the vocabulary and tests).
const TEMPLATES: [&[&str]; 12] = [
    FIRST_POSITIVE,
    FIRST_NEGATIVE,
    FIRST_BALANCED,
    FIRST_FACTUAL,
    ASPECT_POSITIVE,
    ASPECT_NEGATIVE,
    VERDICT_POSITIVE,
    VERDICT_NEGATIVE,
    CONTRAST_POSITIVE,
    CONTRAST_NEGATIVE,
    VERDICT_MIXED,
    FILLER,
];

/// The prompt of a product.
pub fn prompt(product: &str) -> String {
    format!("The {product}")
}

/// The distinct prompts, one per product, in a fixed order.
pub fn prompts() -> Vec<String> {
    PRODUCTS.iter().map(|p| prompt(p.name)).collect()
}

/// `n` reviews, a deterministic function of `seed`; `corpus(seed, m)` is a
/// prefix of `corpus(seed, n)` for m ≤ n.
pub fn corpus(seed: u64, n: usize) -> Vec<Review> {
    (0..n as u64).map(|index| review(seed, index)).collect()
}

/// The review at position `index` of the corpus for `seed`.
pub fn review(seed: u64, index: u64) -> Review {
    let mut rng = SplitMix64::new(mix64(seed).wrapping_add(mix64(index.wrapping_add(1))));
    let u = rng.unit();
    let sentiment = if u < POSITIVE_SHARE {
        Sentiment::Positive
    } else if u < POSITIVE_SHARE + NEGATIVE_SHARE {
        Sentiment::Negative
    } else {
        Sentiment::Mixed
    };
    let product = &PRODUCTS[rng.below(PRODUCTS.len())];
    let completion = completion(&mut rng, product, sentiment);
    Review { prompt: prompt(product.name), completion, sentiment }
}

fn pick<T: Copy>(rng: &mut SplitMix64, items: &[T]) -> T {
    items[rng.below(items.len())]
}

/// The sentence kinds of a review: the first sentence and the pools that
/// later sentences are drawn from (one pool per sentence, in order).
fn plan(rng: &mut SplitMix64, sentiment: Sentiment) -> (&'static [&'static str], Vec<&'static [&'static str]>) {
    let follow = |rng: &mut SplitMix64, pools: &[(&'static [&'static str], f64)]| {
        let count = match rng.unit() {
            u if u < 0.15 => 0,
            u if u < 0.6 => 1,
            _ => 2,
        };
        (0..count)
            .map(|_| {
                let mut u = rng.unit();
                for &(pool, p) in pools {
                    if u < p {
                        return pool;
                    }
                    u -= p;
                }
                pools[pools.len() - 1].0
            })
            .collect::<Vec<_>>()
    };
    match sentiment {
        Sentiment::Positive => (
            FIRST_POSITIVE,
            follow(rng, &[(ASPECT_POSITIVE, 0.35), (VERDICT_POSITIVE, 0.3), (FILLER, 0.2), (CONTRAST_POSITIVE, 0.15)]),
        ),
        Sentiment::Negative => (
            FIRST_NEGATIVE,
            follow(rng, &[(ASPECT_NEGATIVE, 0.35), (VERDICT_NEGATIVE, 0.3), (FILLER, 0.2), (CONTRAST_NEGATIVE, 0.15)]),
        ),
        Sentiment::Mixed => match rng.unit() {
            // Praise and complaint in one sentence.
            u if u < 0.4 => (FIRST_BALANCED, follow(rng, &[(FILLER, 0.5), (VERDICT_MIXED, 0.5)])),
            // Facts only.
            u if u < 0.7 => (FIRST_FACTUAL, follow(rng, &[(FILLER, 0.8), (VERDICT_MIXED, 0.2)])),
            // A verdict of one sign and an aspect of the other.
            u if u < 0.85 => (FIRST_POSITIVE, vec![ASPECT_NEGATIVE]),
            _ => (FIRST_NEGATIVE, vec![ASPECT_POSITIVE]),
        },
    }
}

fn completion(rng: &mut SplitMix64, product: &'static Product, sentiment: Sentiment) -> String {
    // Redraw until the length fits; a draw succeeds often, so this ends fast.
    let mut text = String::new();
    for _ in 0..1000 {
        let (first, rest) = plan(rng, sentiment);
        let mut writer = Writer { rng: &mut *rng, product, plural: product.plural, on_product: true, used: Vec::new() };
        let template = pick(writer.rng, first);
        let mut sentences = vec![writer.render(template)];
        let mut templates = vec![template];
        for pool in rest {
            writer.subject_product();
            let mut template = pick(writer.rng, pool);
            for _ in 0..8 {
                if !templates.contains(&template) {
                    break;
                }
                template = pick(writer.rng, pool);
            }
            templates.push(template);
            sentences.push(writer.render(template));
        }
        text = format!(" {}", sentences.join(" "));
        if (MIN_WORDS..=MAX_WORDS).contains(&text.split_whitespace().count()) {
            break;
        }
    }
    text
}

struct Writer<'r> {
    rng: &'r mut SplitMix64,
    product: &'static Product,
    /// Whether the current subject is plural.
    plural: bool,
    /// Whether the current subject is the product (which allows {pos} and
    /// {neg} to draw product-only adjectives).
    on_product: bool,
    /// Adjectives and aspects already used in this review, not drawn again.
    used: Vec<&'static str>,
}

impl Writer<'_> {
    fn render(&mut self, template: &str) -> String {
        let mut out = String::new();
        let mut rest = template;
        while let Some(open) = rest.find('{') {
            out.push_str(&rest[..open]);
            let Some(close) = rest[open..].find('}') else { break };
            out.push_str(self.slot(&rest[open + 1..open + close]));
            rest = &rest[open + close + 1..];
        }
        out.push_str(rest);
        // "very outstanding" reads badly: strong words go unintensified.
        let strong = |w: &str| {
            let w = w.trim_end_matches(['.', ',']);
            POS_STRONG.contains(&w) || NEG_STRONG.contains(&w)
        };
        let all: Vec<&str> = out.split_whitespace().collect();
        let words: Vec<&str> = all
            .iter()
            .enumerate()
            .filter(|&(i, w)| !(INTENSIFIERS.contains(w) && all.get(i + 1).is_some_and(|next| strong(next))))
            .map(|(_, w)| *w)
            .collect();
        let mut fixed = Vec::with_capacity(words.len());
        for (i, &word) in words.iter().enumerate() {
            let next = words.get(i + 1).copied().unwrap_or("");
            fixed.push(if word == "a" && takes_an(next) { "an" } else { word });
        }
        fixed.join(" ")
    }

    fn fresh(&mut self, lists: &[&'static [&'static str]]) -> &'static str {
        let total: usize = lists.iter().map(|l| l.len()).sum();
        let mut word = "";
        for _ in 0..8 {
            let mut i = self.rng.below(total);
            for list in lists {
                if i < list.len() {
                    word = list[i];
                    break;
                }
                i -= list.len();
            }
            if !self.used.contains(&word) {
                break;
            }
        }
        self.used.push(word);
        word
    }

    fn aspect(&mut self) -> &'static str {
        let mut chosen = ("", false);
        for _ in 0..8 {
            chosen =
                if self.rng.chance(0.7) { pick(self.rng, self.product.parts) } else { pick(self.rng, GENERIC_ASPECTS) };
            if !self.used.contains(&chosen.0) {
                break;
            }
        }
        self.used.push(chosen.0);
        (self.plural, self.on_product) = (chosen.1, false);
        chosen.0
    }

    /// An intensifier half of the time, nothing otherwise.
    fn intensifier(&mut self) -> &'static str {
        if self.rng.chance(0.5) { pick(self.rng, INTENSIFIERS) } else { "" }
    }

    fn subject_product(&mut self) {
        (self.plural, self.on_product) = (self.product.plural, true);
    }

    fn slot(&mut self, name: &str) -> &'static str {
        let agree = |plural: bool, singular: &'static str, many: &'static str| if plural { many } else { singular };
        match name {
            "is" => agree(self.plural, "is", "are"),
            "works" => agree(self.plural, "works", "work"),
            "has" => agree(self.plural, "has", "have"),
            "does" => agree(self.plural, "does", "do"),
            "It" => {
                self.subject_product();
                agree(self.plural, "It", "They")
            }
            "it_s" => {
                self.subject_product();
                agree(self.plural, "it", "they")
            }
            "it" => agree(self.product.plural, "it", "them"),
            "a" => "a",
            "aspect" => self.aspect(),
            "int" => self.intensifier(),
            "pos" if self.on_product => self.fresh(&[POS_PLAIN, POS_STRONG, POS_PRODUCT]),
            "pos" => self.fresh(&[POS_PLAIN, POS_STRONG]),
            "neg" if self.on_product => self.fresh(&[NEG_PLAIN, NEG_STRONG, NEG_PRODUCT]),
            "neg" => self.fresh(&[NEG_PLAIN, NEG_STRONG]),
            "pos1" if self.on_product => self.fresh(&[POS_PLAIN, POS_PRODUCT]),
            "pos1" => self.fresh(&[POS_PLAIN]),
            "pos2" => self.fresh(&[POS_STRONG]),
            "neg1" if self.on_product => self.fresh(&[NEG_PLAIN, NEG_PRODUCT]),
            "neg1" => self.fresh(&[NEG_PLAIN]),
            "neg2" => self.fresh(&[NEG_STRONG]),
            "posadv" => self.fresh(&[POS_ADVERBS]),
            "negadv" => self.fresh(&[NEG_ADVERBS]),
            "mild" => pick(self.rng, MILD),
            "noun" => pick(self.rng, NOUNS),
            "problems" => pick(self.rng, PROBLEMS),
            "day" => pick(self.rng, DAYS),
            "color" => pick(self.rng, COLORS),
            "size" => pick(self.rng, SIZES),
            "material" => pick(self.rng, MATERIALS),
            "num" => pick(self.rng, NUMBERS),
            "unit" => pick(self.rng, UNITS),
            "person" => pick(self.rng, PEOPLE),
            _ => "",
        }
    }
}

/// Whether an article before `word` is "an": a vowel sound, which here is a
/// leading a, e, i, o, or a u not pronounced "you" (useless).
fn takes_an(word: &str) -> bool {
    word.starts_with(['a', 'e', 'i', 'o']) || (word.starts_with('u') && !word.starts_with("us"))
}

/// Every word the generator can emit (prompts included), as written
/// (case kept, punctuation stripped).
pub fn vocabulary() -> BTreeSet<&'static str> {
    let lists = [
        POS_PLAIN,
        POS_STRONG,
        POS_PRODUCT,
        NEG_PLAIN,
        NEG_STRONG,
        NEG_PRODUCT,
        POS_ADVERBS,
        NEG_ADVERBS,
        MILD,
        INTENSIFIERS,
        NOUNS,
        PROBLEMS,
        DAYS,
        COLORS,
        SIZES,
        MATERIALS,
        NUMBERS,
        UNITS,
        PEOPLE,
        &["is", "are", "works", "work", "has", "have", "does", "do", "It", "They", "it", "they", "them", "a", "an"],
    ];
    let mut words = BTreeSet::from(["The"]);
    for template in TEMPLATES.iter().flat_map(|t| t.iter()) {
        for word in template.split_whitespace() {
            if !word.starts_with('{') {
                words.insert(word.trim_end_matches(['.', ',']));
            }
        }
    }
    words.extend(lists.iter().flat_map(|list| list.iter().copied()));
    for product in PRODUCTS {
        words.insert(product.name);
        words.extend(product.parts.iter().map(|part| part.0));
    }
    words.extend(GENERIC_ASPECTS.iter().map(|aspect| aspect.0));
    words
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::judge::lexicon;

    fn weight(word: &str) -> Option<f64> {
        lexicon().weight(&word.to_lowercase())
    }

    /// The generator's sentiment lists carry the judge's weights they are
    /// meant to carry, and nothing else it emits is a sentiment word except
    /// the fixed phrases of the templates.
    #[test]
    fn generator_words_have_the_intended_judge_weights() {
        for (list, expected) in [
            (POS_PLAIN, 1.0),
            (POS_STRONG, 2.0),
            (POS_PRODUCT, 1.0),
            (NEG_PLAIN, -1.0),
            (NEG_STRONG, -2.0),
            (NEG_PRODUCT, -1.0),
        ] {
            for word in list {
                assert_eq!(weight(word), Some(expected), "{word}");
            }
        }
        assert!(POS_ADVERBS.iter().all(|w| weight(w).is_some_and(|w| w > 0.0)));
        assert!(NEG_ADVERBS.iter().all(|w| weight(w).is_some_and(|w| w < 0.0)));
        assert!(MILD.iter().all(|w| weight(w).is_some_and(|w| w.abs() == 0.5)));
        assert!(INTENSIFIERS.iter().all(|w| lexicon().intensifiers.contains(w)));
        let neutral = [NOUNS, DAYS, COLORS, SIZES, MATERIALS, NUMBERS, UNITS, PEOPLE];
        for word in neutral.iter().flat_map(|l| l.iter()) {
            assert_eq!(weight(word), None, "{word}");
        }
        for product in PRODUCTS {
            assert_eq!(weight(product.name), None);
            assert!(product.parts.iter().all(|p| weight(p.0).is_none()), "{}", product.name);
        }
        assert!(GENERIC_ASPECTS.iter().all(|a| weight(a.0).is_none()));
        let in_templates: BTreeSet<&str> = TEMPLATES
            .iter()
            .flat_map(|t| t.iter())
            .flat_map(|t| t.split_whitespace())
            .filter(|w| !w.starts_with('{'))
            .map(|w| w.trim_end_matches(['.', ',']))
            .filter(|w| weight(w).is_some())
            .collect();
        let expected = [
            "Avoid",
            "Waste",
            "Worth",
            "broke",
            "fine",
            "happy",
            "hate",
            "love",
            "loves",
            "recommend",
            "recommended",
            "refund",
            "regret",
            "returned",
            "stopped",
        ];
        assert_eq!(in_templates, BTreeSet::from(expected));
    }

    /// Every slot a template names is one the writer fills (an unknown slot would render as nothing).
    #[test]
    fn templates_name_only_known_slots() {
        let known = [
            "is", "works", "has", "does", "It", "it_s", "it", "a", "aspect", "int", "pos", "neg", "pos1", "pos2",
            "neg1", "neg2", "posadv", "negadv", "mild", "noun", "problems", "day", "color", "size", "material", "num",
            "unit", "person",
        ];
        for template in TEMPLATES.iter().flat_map(|t| t.iter()) {
            for piece in template.split('{').skip(1) {
                let name = piece.split('}').next().unwrap_or_default();
                assert!(known.contains(&name), "{template}: {{{name}}}");
            }
        }
    }

    #[test]
    fn articles_agree_with_the_next_word() {
        assert!(takes_an("excellent") && takes_an("awful") && takes_an("unreliable") && takes_an("outstanding"));
        assert!(!takes_an("useless") && !takes_an("good") && !takes_an("terrible"));
    }
}
