//! Answer-string matching and token budgets (see the module doc of
//! [`super`] for the exact rules and their sources).

use std::collections::HashMap;
use xlqa_core::Lang;
use xlqa_text::analyze::{Analyzer, Token};

/// Languages written without spaces between words: their passages are
/// matched on concatenated words and their token budget counts words.
pub fn no_space_lang(lang: &Lang) -> bool {
    matches!(lang.primary(), "zh" | "ja" | "th" | "lo" | "km" | "my")
}

/// True for the answers the official XOR-TyDi script skips.
pub fn is_yes_no(answer: &str) -> bool {
    let a = answer.trim();
    a.eq_ignore_ascii_case("yes") || a.eq_ignore_ascii_case("no")
}

/// Splits words at apostrophes (`broncos'u` → `broncos`, `u`; `l'école` →
/// `l`, `école`), as DPR's tokenizer does: UAX #29 keeps them inside a word,
/// which would hide Turkish, French or Italian answers followed by a suffix
/// or preceded by an elided article. The pieces keep the word's offsets.
fn split_apostrophes(tokens: Vec<Token>) -> Vec<Token> {
    if !tokens.iter().any(|t| t.text.contains('\'')) {
        return tokens;
    }
    let mut out = Vec::with_capacity(tokens.len() + 4);
    for t in tokens {
        if t.text.contains('\'') {
            for piece in t.text.split('\'').filter(|p| !p.is_empty()) {
                out.push(Token {
                    text: piece.to_string(),
                    ..t.clone()
                });
            }
        } else {
            out.push(t);
        }
    }
    out
}

/// The words of one passage text, with what a token budget keeps.
#[derive(Clone, Debug)]
pub struct TextWords {
    pub no_space: bool,
    /// Normalized words (`Analyzer::words`).
    pub words: Vec<String>,
    /// The words joined without separators (used for no-space languages).
    joined: String,
    /// Byte end in `joined` after each word.
    joined_ends: Vec<usize>,
    /// For budget token i (0-based): how many words end within tokens 0..=i.
    budget_word_ends: Vec<usize>,
}

impl TextWords {
    /// Analyzes `text` (in `lang`) with `analyzer`.
    pub fn new(analyzer: &Analyzer, text: &str, lang: &Lang) -> TextWords {
        let tokens = split_apostrophes(analyzer.words(text));
        let no_space = no_space_lang(lang);
        let budget_word_ends: Vec<usize> = if no_space {
            (1..=tokens.len()).collect()
        } else {
            // byte end of every whitespace-delimited token
            let mut ends = Vec::new();
            let mut in_token = false;
            for (i, c) in text.char_indices() {
                if c.is_whitespace() {
                    if in_token {
                        ends.push(i);
                    }
                    in_token = false;
                } else {
                    in_token = true;
                }
            }
            if in_token {
                ends.push(text.len());
            }
            ends.iter()
                .map(|e| tokens.partition_point(|t| t.end <= *e))
                .collect()
        };
        let mut joined = String::new();
        let mut joined_ends = Vec::with_capacity(tokens.len());
        for t in &tokens {
            joined.push_str(&t.text);
            joined_ends.push(joined.len());
        }
        TextWords {
            no_space,
            words: tokens.into_iter().map(|t| t.text).collect(),
            joined,
            joined_ends,
            budget_word_ends,
        }
    }

    /// Budget tokens of the text (whitespace tokens, or words for no-space
    /// languages).
    pub fn budget_tokens(&self) -> usize {
        self.budget_word_ends.len()
    }

    /// How many words lie within the first `t` budget tokens.
    pub fn words_within(&self, t: usize) -> usize {
        if t == 0 {
            0
        } else if t >= self.budget_word_ends.len() {
            self.words.len()
        } else {
            self.budget_word_ends[t - 1]
        }
    }

    /// True when the first `n_words` words contain `answer` (words of the
    /// answer cut by the same analyzer).
    pub fn contains(&self, answer: &AnswerForm, n_words: usize) -> bool {
        let n_words = n_words.min(self.words.len());
        if answer.words.is_empty() || n_words == 0 {
            return false;
        }
        if self.no_space {
            let end = self.joined_ends[n_words - 1];
            self.joined[..end].contains(answer.joined.as_str())
        } else {
            self.words[..n_words]
                .windows(answer.words.len())
                .any(|w| w == answer.words.as_slice())
        }
    }
}

/// An answer string cut into words by one language's analyzer.
#[derive(Clone, Debug)]
pub struct AnswerForm {
    pub words: Vec<String>,
    joined: String,
}

/// Analyzers and answer forms, cached.
#[derive(Default)]
pub struct Matcher {
    analyzers: HashMap<String, Analyzer>,
    answers: HashMap<(String, String), AnswerForm>,
}

impl Matcher {
    pub fn analyzer(&mut self, lang: &Lang) -> Analyzer {
        self.analyzers
            .entry(lang.primary().to_string())
            .or_insert_with(|| Analyzer::for_lang(lang))
            .clone()
    }

    /// The words of a passage text in `lang`.
    pub fn text(&mut self, text: &str, lang: &Lang) -> TextWords {
        let a = self.analyzer(lang);
        TextWords::new(&a, text, lang)
    }

    /// `answer` as cut by the analyzer of `lang` (the passage's language).
    pub fn answer(&mut self, answer: &str, lang: &Lang) -> &AnswerForm {
        let key = (lang.primary().to_string(), answer.to_string());
        if !self.answers.contains_key(&key) {
            let a = self.analyzer(lang);
            let words: Vec<String> = split_apostrophes(a.words(answer))
                .into_iter()
                .map(|t| t.text)
                .collect();
            let joined = words.concat();
            self.answers
                .insert(key.clone(), AnswerForm { words, joined });
        }
        &self.answers[&key]
    }

    /// True when the first `n_words` words of `text` (in `lang`) contain one
    /// of `answers`.
    pub fn any_within(
        &mut self,
        text: &TextWords,
        lang: &Lang,
        answers: &[&str],
        n_words: usize,
    ) -> bool {
        answers
            .iter()
            .any(|a| text.contains(self.answer(a, lang), n_words))
    }
}
