//! The demo task of Plumb (docs/judge.md): short product reviews generated from
//! a seed ([`reviews`]), and a lexicon sentiment judge that prefers positive
//! ones ([`judge`]), in the spirit of the controlled-sentiment experiment of the
//! DPO paper, where a sentiment classifier was the ground-truth reward. The
//! judge labels preference pairs and scores a trained policy's win rate.

pub mod judge;
pub mod reviews;
pub mod rng;

pub use judge::{Judgement, Lexicon, judge, label_pair, lexicon, prefers, sentiment};
pub use reviews::{Review, Sentiment, corpus, prompts, vocabulary};
