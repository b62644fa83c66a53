//! Language codes: ISO 639-1 where it exists, ISO 639-3 otherwise, with an
//! optional BCP 47 script subtag (`zh-Hans`, `zh-Hant`, `sr-Latn`).

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// Every ISO 639-1 two-letter code. A two-letter code outside this list is
/// rejected: an unknown language must never be mistaken for a known one.
pub const ISO_639_1: &[&str] = &[
    "aa", "ab", "ae", "af", "ak", "am", "an", "ar", "as", "av", "ay", "az", "ba", "be", "bg", "bh",
    "bi", "bm", "bn", "bo", "br", "bs", "ca", "ce", "ch", "co", "cr", "cs", "cu", "cv", "cy", "da",
    "de", "dv", "dz", "ee", "el", "en", "eo", "es", "et", "eu", "fa", "ff", "fi", "fj", "fo", "fr",
    "fy", "ga", "gd", "gl", "gn", "gu", "gv", "ha", "he", "hi", "ho", "hr", "ht", "hu", "hy", "hz",
    "ia", "id", "ie", "ig", "ii", "ik", "io", "is", "it", "iu", "ja", "jv", "ka", "kg", "ki", "kj",
    "kk", "kl", "km", "kn", "ko", "kr", "ks", "ku", "kv", "kw", "ky", "la", "lb", "lg", "li", "ln",
    "lo", "lt", "lu", "lv", "mg", "mh", "mi", "mk", "ml", "mn", "mr", "ms", "mt", "my", "na", "nb",
    "nd", "ne", "ng", "nl", "nn", "no", "nr", "nv", "ny", "oc", "oj", "om", "or", "os", "pa", "pi",
    "pl", "ps", "pt", "qu", "rm", "rn", "ro", "ru", "rw", "sa", "sc", "sd", "se", "sg", "si", "sk",
    "sl", "sm", "sn", "so", "sq", "sr", "ss", "st", "su", "sv", "sw", "ta", "te", "tg", "th", "ti",
    "tk", "tl", "tn", "to", "tr", "ts", "tt", "tw", "ty", "ug", "uk", "ur", "uz", "ve", "vi", "vo",
    "wa", "wo", "xh", "yi", "yo", "za", "zh", "zu",
];

/// ISO 639-2/3 codes that have an ISO 639-1 equivalent, mapped to it, so that
/// `eng`, `deu`, `zho`, `cmn`, `arb` … all become the canonical two-letter code.
const THREE_TO_TWO: &[(&str, &str)] = &[
    ("afr", "af"),
    ("amh", "am"),
    ("ara", "ar"),
    ("arb", "ar"),
    ("aze", "az"),
    ("bel", "be"),
    ("ben", "bn"),
    ("bos", "bs"),
    ("bul", "bg"),
    ("cat", "ca"),
    ("ces", "cs"),
    ("cze", "cs"),
    ("cmn", "zh"),
    ("chi", "zh"),
    ("zho", "zh"),
    ("cym", "cy"),
    ("wel", "cy"),
    ("dan", "da"),
    ("deu", "de"),
    ("ger", "de"),
    ("ell", "el"),
    ("gre", "el"),
    ("eng", "en"),
    ("epo", "eo"),
    ("est", "et"),
    ("eus", "eu"),
    ("baq", "eu"),
    ("fas", "fa"),
    ("per", "fa"),
    ("pes", "fa"),
    ("fin", "fi"),
    ("fra", "fr"),
    ("fre", "fr"),
    ("gle", "ga"),
    ("glg", "gl"),
    ("guj", "gu"),
    ("heb", "he"),
    ("hin", "hi"),
    ("hrv", "hr"),
    ("hun", "hu"),
    ("hye", "hy"),
    ("arm", "hy"),
    ("ind", "id"),
    ("isl", "is"),
    ("ice", "is"),
    ("ita", "it"),
    ("jpn", "ja"),
    ("jav", "jv"),
    ("kat", "ka"),
    ("geo", "ka"),
    ("kaz", "kk"),
    ("khm", "km"),
    ("kan", "kn"),
    ("kor", "ko"),
    ("kur", "ku"),
    ("kir", "ky"),
    ("lat", "la"),
    ("lao", "lo"),
    ("lit", "lt"),
    ("lav", "lv"),
    ("lvs", "lv"),
    ("mal", "ml"),
    ("mar", "mr"),
    ("mkd", "mk"),
    ("mac", "mk"),
    ("mlt", "mt"),
    ("mon", "mn"),
    ("msa", "ms"),
    ("may", "ms"),
    ("zsm", "ms"),
    ("mya", "my"),
    ("bur", "my"),
    ("nep", "ne"),
    ("nld", "nl"),
    ("dut", "nl"),
    ("nob", "nb"),
    ("nno", "nn"),
    ("nor", "no"),
    ("ori", "or"),
    ("pan", "pa"),
    ("pol", "pl"),
    ("por", "pt"),
    ("pus", "ps"),
    ("ron", "ro"),
    ("rum", "ro"),
    ("rus", "ru"),
    ("sin", "si"),
    ("slk", "sk"),
    ("slo", "sk"),
    ("slv", "sl"),
    ("som", "so"),
    ("spa", "es"),
    ("sqi", "sq"),
    ("alb", "sq"),
    ("srp", "sr"),
    ("swa", "sw"),
    ("swh", "sw"),
    ("swe", "sv"),
    ("tam", "ta"),
    ("tel", "te"),
    ("tgk", "tg"),
    ("tgl", "tl"),
    ("tha", "th"),
    ("tuk", "tk"),
    ("tur", "tr"),
    ("tat", "tt"),
    ("uig", "ug"),
    ("ukr", "uk"),
    ("urd", "ur"),
    ("uzb", "uz"),
    ("vie", "vi"),
    ("yid", "yi"),
    ("yor", "yo"),
    ("xho", "xh"),
    ("zul", "zu"),
    ("bre", "br"),
    ("fry", "fy"),
    ("gla", "gd"),
    ("ltz", "lb"),
    ("oci", "oc"),
    ("hau", "ha"),
    ("ibo", "ig"),
    ("kin", "rw"),
    ("mlg", "mg"),
    ("mri", "mi"),
    ("sna", "sn"),
    ("snd", "sd"),
    ("sun", "su"),
    ("tir", "ti"),
    ("tsn", "tn"),
    ("wol", "wo"),
    ("orm", "om"),
];

/// A validated language code, stored in canonical form (`en`, `zh-Hant`,
/// `yue`).
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Lang(String);

/// In an OpenAPI document a [`Lang`] is a string.
#[cfg(feature = "openapi")]
impl utoipa::PartialSchema for Lang {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .description(Some(
                "Language code: ISO 639-1 (en, zh), ISO 639-3 (yue) or BCP 47 with a script (zh-Hant); case-insensitive, `_` for `-`, region subtags ignored",
            ))
            .pattern(Some(Lang::pattern()))
            .examples([serde_json::json!("de")])
            .into()
    }
}

#[cfg(feature = "openapi")]
impl utoipa::ToSchema for Lang {}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum LangError {
    #[error("empty language code")]
    Empty,
    #[error("'{0}' is not a language code: expected ISO 639-1 (e.g. 'en', 'zh'), ISO 639-3 (e.g. 'yue') or BCP 47 with a script (e.g. 'zh-Hant')")]
    Malformed(String),
    #[error("'{0}' is not an ISO 639-1 language code")]
    UnknownTwoLetter(String),
}

impl Lang {
    /// Parses and canonicalizes a code: case-insensitive, `_` accepted for `-`,
    /// three-letter codes with a two-letter equivalent are mapped to it, a
    /// region subtag (`pt-BR`) is dropped, a script subtag is title-cased.
    pub fn parse(code: &str) -> Result<Lang, LangError> {
        let code = code.trim();
        if code.is_empty() {
            return Err(LangError::Empty);
        }
        let mut parts = code.split(['-', '_']);
        let primary = parts.next().unwrap_or_default().to_ascii_lowercase();
        if !(2..=3).contains(&primary.len()) || !primary.bytes().all(|b| b.is_ascii_lowercase()) {
            return Err(LangError::Malformed(code.to_string()));
        }
        let primary = if primary.len() == 3 {
            THREE_TO_TWO
                .iter()
                .find(|(three, _)| *three == primary)
                .map(|(_, two)| two.to_string())
                .unwrap_or(primary)
        } else if ISO_639_1.contains(&primary.as_str()) {
            primary
        } else {
            return Err(LangError::UnknownTwoLetter(primary));
        };
        let mut script = None;
        for sub in parts {
            if sub.len() == 4 && sub.bytes().all(|b| b.is_ascii_alphabetic()) {
                let mut s = sub.to_ascii_lowercase();
                s[..1].make_ascii_uppercase();
                script = Some(s);
            } else if (sub.len() == 2 && sub.bytes().all(|b| b.is_ascii_alphabetic()))
                || (sub.len() == 3 && sub.bytes().all(|b| b.is_ascii_digit()))
            {
                // region subtag: not needed for retrieval; dropped.
            } else {
                return Err(LangError::Malformed(code.to_string()));
            }
        }
        Ok(match script {
            Some(s) => Lang(format!("{primary}-{s}")),
            None => Lang(primary),
        })
    }

    /// An ECMA-262 regular expression matching exactly the codes
    /// [`Lang::parse`] accepts (for JSON Schema and OpenAPI documents).
    pub fn pattern() -> String {
        let any_case = |c: &str| -> String {
            c.chars()
                .map(|ch| format!("[{}{}]", ch, ch.to_ascii_uppercase()))
                .collect()
        };
        let two: Vec<String> = ISO_639_1.iter().map(|c| any_case(c)).collect();
        format!(
            r"^\s*({}|[A-Za-z]{{3}})([-_]([A-Za-z]{{4}}|[A-Za-z]{{2}}|[0-9]{{3}}))*\s*$",
            two.join("|")
        )
    }

    /// The full canonical code, e.g. `zh-Hant`.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The primary language subtag, e.g. `zh` for `zh-Hant`.
    pub fn primary(&self) -> &str {
        self.0.split('-').next().unwrap_or(&self.0)
    }

    /// The script subtag, if any.
    pub fn script(&self) -> Option<&str> {
        self.0.split_once('-').map(|(_, s)| s)
    }
}

impl fmt::Display for Lang {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Lang {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Lang({})", self.0)
    }
}

impl FromStr for Lang {
    type Err = LangError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Lang::parse(s)
    }
}

impl TryFrom<String> for Lang {
    type Error = LangError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Lang::parse(&s)
    }
}

impl From<Lang> for String {
    fn from(l: Lang) -> String {
        l.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_forms() {
        assert_eq!(Lang::parse("EN").unwrap().as_str(), "en");
        assert_eq!(Lang::parse("eng").unwrap().as_str(), "en");
        assert_eq!(Lang::parse("cmn").unwrap().as_str(), "zh");
        assert_eq!(Lang::parse("zh_hant").unwrap().as_str(), "zh-Hant");
        assert_eq!(Lang::parse("pt-BR").unwrap().as_str(), "pt");
        assert_eq!(Lang::parse("yue").unwrap().as_str(), "yue");
        assert_eq!(Lang::parse(" ar").unwrap().as_str(), "ar");
        assert_eq!(Lang::parse("zh-Hant").unwrap().primary(), "zh");
        assert_eq!(Lang::parse("zh-Hant").unwrap().script(), Some("Hant"));
    }

    #[test]
    fn rejects_garbage() {
        assert_eq!(Lang::parse(""), Err(LangError::Empty));
        assert!(matches!(
            Lang::parse("english"),
            Err(LangError::Malformed(_))
        ));
        assert!(matches!(
            Lang::parse("xx"),
            Err(LangError::UnknownTwoLetter(_))
        ));
        assert!(matches!(Lang::parse("e1"), Err(LangError::Malformed(_))));
        assert!(matches!(Lang::parse("en-!!"), Err(LangError::Malformed(_))));
    }

    #[test]
    fn serde_round_trip_validates() {
        let l: Lang = serde_json::from_str("\"DE\"").unwrap();
        assert_eq!(l.as_str(), "de");
        assert!(serde_json::from_str::<Lang>("\"klingon\"").is_err());
        assert_eq!(serde_json::to_string(&l).unwrap(), "\"de\"");
    }

    #[test]
    fn the_schema_pattern_accepts_exactly_what_parse_accepts() {
        let re = regex::Regex::new(&Lang::pattern()).unwrap();
        let mut samples: Vec<String> = [
            "en",
            "EN",
            "eNg",
            "zh_hant",
            "zh-Hant",
            "pt-BR",
            "es-419",
            "sr-Latn-RS",
            " ar",
            "yue",
            "xx",
            "",
            " ",
            "e",
            "english",
            "en-",
            "en--US",
            "en-U",
            "en-1234",
            "zh-Hant5",
            "é",
            "en us",
            "qq",
            "zz-Latn",
            "abc",
            "ab1",
            "de_DE",
            "de-de-de",
            "12",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        // every two-letter pair of letters and a few case variants
        for a in b'a'..=b'z' {
            for b in b'a'..=b'z' {
                samples.push(format!("{}{}", a as char, b as char));
                samples.push(format!(
                    "{}{}-Latn",
                    (a as char).to_ascii_uppercase(),
                    b as char
                ));
            }
        }
        for s in &samples {
            assert_eq!(re.is_match(s), Lang::parse(s).is_ok(), "{s:?}");
        }
    }
}
