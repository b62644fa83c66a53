//! Light Korean particle (josa) stripping for search.
//!
//! Korean writes nouns and their case particles as one space-delimited word
//! (eojeol): `서울에서` "in Seoul", `서울은` "Seoul (topic)". Without a
//! morphological analyzer, the particles below are stripped from the end of
//! an all-Hangul word, at most twice (`서울에서는` → `서울에서` → `서울`), so
//! that those forms share the term `서울`.
//!
//! Rules:
//! - the longest particle that matches is removed first;
//! - at least one syllable must remain;
//! - particles that alternate with the sound before them are only removed
//!   after a matching syllable: `이 은 을 과 으로 이나 이랑 이며 으로서
//!   으로써 으로부터` need a syllable with a final consonant (batchim) before
//!   them, `가 는 를 와 나 랑 며` need one without (so `아이` "child" or `나이`
//!   "age" keep their last syllable), and `로 로서 로써 로부터` need no batchim
//!   or the batchim ㄹ;
//! - verb and adjective endings are not touched (they are not particles).
//!
//! The same rules run on documents and on queries, so an over-stripped noun
//! (e.g. `고양이` "cat" → `고양`) still matches itself.

/// What the syllable before a particle must look like.
#[derive(Clone, Copy, PartialEq, Eq)]
enum After {
    /// Any syllable.
    Any,
    /// A syllable with a final consonant.
    Batchim,
    /// A syllable without a final consonant.
    Open,
    /// A syllable without a final consonant or with final ㄹ.
    OpenOrRieul,
}

/// Particles, each with the condition on the syllable before it. When
/// several match, the longest is removed.
const PARTICLES: &[(&str, After)] = &[
    // case particles
    ("이", After::Batchim),
    ("가", After::Open),
    ("은", After::Batchim),
    ("는", After::Open),
    ("을", After::Batchim),
    ("를", After::Open),
    ("의", After::Any),
    ("에", After::Any),
    ("에서", After::Any),
    ("에게", After::Any),
    ("에게서", After::Any),
    ("한테", After::Any),
    ("한테서", After::Any),
    ("께", After::Any),
    ("께서", After::Any),
    ("으로", After::Batchim),
    ("로", After::OpenOrRieul),
    ("으로서", After::Batchim),
    ("로서", After::OpenOrRieul),
    ("으로써", After::Batchim),
    ("로써", After::OpenOrRieul),
    ("으로부터", After::Batchim),
    ("로부터", After::OpenOrRieul),
    ("에서부터", After::Any),
    // conjunctive particles
    ("과", After::Batchim),
    ("와", After::Open),
    ("하고", After::Any),
    ("이나", After::Batchim),
    ("나", After::Open),
    ("이랑", After::Batchim),
    ("랑", After::Open),
    ("이며", After::Batchim),
    ("며", After::Open),
    // auxiliary particles
    ("도", After::Any),
    ("만", After::Any),
    ("까지", After::Any),
    ("부터", After::Any),
    ("보다", After::Any),
    ("처럼", After::Any),
    ("마다", After::Any),
    ("조차", After::Any),
    ("밖에", After::Any),
    ("만큼", After::Any),
];

const SYLLABLE_FIRST: u32 = 0xAC00;
const SYLLABLE_LAST: u32 = 0xD7A3;

fn is_syllable(c: char) -> bool {
    (SYLLABLE_FIRST..=SYLLABLE_LAST).contains(&(c as u32))
}

/// Final consonant index of a precomposed syllable (0 = none, 8 = ㄹ).
fn batchim(c: char) -> u32 {
    (c as u32 - SYLLABLE_FIRST) % 28
}

fn allowed(prev: char, after: After) -> bool {
    let b = batchim(prev);
    match after {
        After::Any => true,
        After::Batchim => b != 0,
        After::Open => b == 0,
        After::OpenOrRieul => b == 0 || b == 8,
    }
}

/// Removes one particle from the end of `word`, if the rules allow it.
fn strip_once(word: &str) -> Option<&str> {
    let mut best: Option<&str> = None;
    for &(p, after) in PARTICLES {
        if word.len() <= p.len() || !word.ends_with(p) {
            continue;
        }
        let stem = &word[..word.len() - p.len()];
        let Some(prev) = stem.chars().next_back() else {
            continue;
        };
        if !allowed(prev, after) {
            continue;
        }
        if best.is_none_or(|b| stem.len() < b.len()) {
            best = Some(stem);
        }
    }
    best
}

/// Strips up to two trailing particles from an all-Hangul-syllable word;
/// other words are returned unchanged.
pub(crate) fn strip_particles(word: &str) -> &str {
    if word.is_empty() || !word.chars().all(is_syllable) {
        return word;
    }
    let mut w = word;
    for _ in 0..2 {
        match strip_once(w) {
            Some(s) => w = s,
            None => break,
        }
    }
    w
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seoul_forms_share_a_stem() {
        for w in [
            "서울",
            "서울에서",
            "서울은",
            "서울이",
            "서울의",
            "서울로",
            "서울에서는",
            "서울까지",
            "서울부터",
            "서울과",
        ] {
            assert_eq!(strip_particles(w), "서울", "{w}");
        }
    }

    #[test]
    fn alternation_is_respected() {
        // vowel-final nouns take 가/는/를/와
        assert_eq!(strip_particles("학교가"), "학교");
        assert_eq!(strip_particles("학교는"), "학교");
        assert_eq!(strip_particles("학교를"), "학교");
        assert_eq!(strip_particles("학교로"), "학교");
        // 이 after a vowel-final syllable is part of the word
        assert_eq!(strip_particles("아이"), "아이");
        assert_eq!(strip_particles("나이"), "나이");
        // 가 after a consonant-final syllable is part of the word
        assert_eq!(strip_particles("국가"), "국가");
        // 으로 after consonant, 로 after ㄹ
        assert_eq!(strip_particles("대학으로"), "대학");
        assert_eq!(strip_particles("서울로"), "서울");
    }

    #[test]
    fn short_and_foreign_words_untouched() {
        assert_eq!(strip_particles("이"), "이");
        assert_eq!(strip_particles("도"), "도");
        assert_eq!(strip_particles("seoul"), "seoul");
        assert_eq!(strip_particles("K리그"), "K리그");
    }
}
