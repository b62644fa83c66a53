//! Training-free removal of language identity from sentence embeddings.
//!
//! A multilingual encoder places sentences of one language near each other,
//! whatever they say; a question then prefers candidates in its own language
//! (LAReQA's "weak alignment"). Three post-hoc transforms, each fitted on
//! unlabeled embeddings grouped by language (the indexed collection) and
//! applied to questions and candidates alike, followed by L2 normalization:
//!
//! * `center`: subtract the mean embedding of the vector's language.
//! * `lir:R` (LIR, Yang et al. 2021): per language, the top-R right singular
//!   vectors of that language's (uncentered) embedding matrix span its
//!   "language identity" subspace; a vector is projected onto the orthogonal
//!   complement of its own language's subspace.
//! * `subspace:R`: one subspace shared by all languages, the top-R principal
//!   directions of the language means (centered across languages, in the
//!   spirit of Xie et al. 2022's low-rank language subspace); every vector is
//!   projected onto its complement. It needs no per-language statistics at
//!   query time, so it also applies to languages the collection lacks.
//!
//! `center` and `lir` need statistics for the vector's language: asking for
//! a language that was not fitted is an error, never a silent fallback.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::linalg;

/// Fewest vectors of a language for statistics of its own when an index is
/// built (`center`, `lir`): the mean of a handful of passages is mostly their
/// topic, and centering a lone passage would erase it. Rarer languages get
/// the fallback of [`Debias::apply_or_fallback`].
pub const MIN_FIT_VECTORS: usize = 50;

/// Which transform.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "rank")]
pub enum DebiasMethod {
    None,
    Center,
    Lir(usize),
    Subspace(usize),
}

impl std::fmt::Display for DebiasMethod {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DebiasMethod::None => write!(f, "none"),
            DebiasMethod::Center => write!(f, "center"),
            DebiasMethod::Lir(r) => write!(f, "lir:{r}"),
            DebiasMethod::Subspace(r) => write!(f, "subspace:{r}"),
        }
    }
}

impl std::str::FromStr for DebiasMethod {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let rank = |r: &str| -> Result<usize, String> {
            match r.parse::<usize>() {
                Ok(n) if n >= 1 => Ok(n),
                _ => Err(format!(
                    "'{s}': the rank after ':' must be a whole number ≥ 1"
                )),
            }
        };
        match s.split_once(':') {
            None if s == "none" => Ok(DebiasMethod::None),
            None if s == "center" => Ok(DebiasMethod::Center),
            Some(("lir", r)) => Ok(DebiasMethod::Lir(rank(r)?)),
            Some(("subspace", r)) => Ok(DebiasMethod::Subspace(rank(r)?)),
            _ => Err(format!(
                "unknown de-biasing method '{s}' (expected none, center, lir:R or subspace:R)"
            )),
        }
    }
}

/// Errors of fitting or applying a de-biasing transform.
#[derive(Debug, thiserror::Error)]
pub enum DebiasError {
    #[error("de-biasing ({method}): no statistics for language '{lang}' (fitted on: {known}); fit on a collection that holds it or use subspace:R")]
    UnknownLang {
        method: DebiasMethod,
        lang: String,
        known: String,
    },
    #[error("de-biasing ({method}): {problem}")]
    Fit {
        method: DebiasMethod,
        problem: String,
    },
    #[error("de-biasing: vector of dimension {got}, fitted on dimension {want}")]
    Dim { got: usize, want: usize },
}

/// A fitted transform (serializable, for index manifests and reports).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Debias {
    pub method: DebiasMethod,
    pub dim: usize,
    /// Vectors fitted per language.
    pub counts: BTreeMap<String, usize>,
    /// `center`: the mean of each language.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub means: BTreeMap<String, Vec<f32>>,
    /// `lir`: orthonormal directions removed per language.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub lang_dirs: BTreeMap<String, Vec<Vec<f32>>>,
    /// `subspace`: orthonormal directions removed from every vector.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub shared_dirs: Vec<Vec<f32>>,
}

impl Debias {
    /// Fits `method` on embeddings grouped by language code. Languages with
    /// fewer than `min_count` vectors get no statistics of their own.
    pub fn fit(
        method: DebiasMethod,
        groups: &BTreeMap<String, Vec<&[f32]>>,
        min_count: usize,
    ) -> Result<Debias, DebiasError> {
        let fit_err = |problem: String| DebiasError::Fit { method, problem };
        let dim = groups
            .values()
            .flat_map(|g| g.first())
            .map(|v| v.len())
            .next()
            .ok_or_else(|| fit_err("no embeddings to fit on".to_string()))?;
        for (lang, g) in groups {
            if let Some(v) = g.iter().find(|v| v.len() != dim) {
                return Err(fit_err(format!(
                    "language '{lang}' has a vector of dimension {}, others {dim}",
                    v.len()
                )));
            }
        }
        let mut out = Debias {
            method,
            dim,
            counts: groups.iter().map(|(l, g)| (l.clone(), g.len())).collect(),
            means: BTreeMap::new(),
            lang_dirs: BTreeMap::new(),
            shared_dirs: Vec::new(),
        };
        let to_f32 = |v: &[f64]| v.iter().map(|&x| x as f32).collect::<Vec<f32>>();
        match method {
            DebiasMethod::None => {}
            DebiasMethod::Center => {
                for (lang, g) in groups.iter().filter(|(_, g)| g.len() >= min_count.max(1)) {
                    out.means
                        .insert(lang.clone(), to_f32(&linalg::mean(g, dim)));
                }
            }
            DebiasMethod::Lir(r) => {
                if r >= dim {
                    return Err(fit_err(format!(
                        "rank {r} must be below the dimension {dim}"
                    )));
                }
                for (lang, g) in groups.iter().filter(|(_, g)| g.len() >= min_count.max(1)) {
                    let (_, vecs) = linalg::sym_eigen(&linalg::scatter(g, dim, None), dim);
                    let dirs = vecs
                        .iter()
                        .take(r.min(g.len()))
                        .map(|v| to_f32(v))
                        .collect();
                    out.lang_dirs.insert(lang.clone(), dirs);
                }
            }
            DebiasMethod::Subspace(r) => {
                let means: Vec<Vec<f32>> = groups
                    .values()
                    .filter(|g| g.len() >= min_count.max(1))
                    .map(|g| to_f32(&linalg::mean(g, dim)))
                    .collect();
                if means.len() < 2 {
                    return Err(fit_err(format!(
                        "needs at least 2 languages with {} or more vectors each, got {}",
                        min_count.max(1),
                        means.len()
                    )));
                }
                if r >= means.len() {
                    return Err(fit_err(format!(
                        "rank {r} must be below the number of languages ({})",
                        means.len()
                    )));
                }
                let rows: Vec<&[f32]> = means.iter().map(|m| m.as_slice()).collect();
                let grand = linalg::mean(&rows, dim);
                let (_, vecs) = linalg::sym_eigen(&linalg::scatter(&rows, dim, Some(&grand)), dim);
                out.shared_dirs = vecs.iter().take(r).map(|v| to_f32(v)).collect();
            }
        }
        Ok(out)
    }

    /// Transforms `v` (an embedding in language `lang`) in place and
    /// L2-normalizes it.
    pub fn apply(&self, lang: &str, v: &mut [f32]) -> Result<(), DebiasError> {
        if v.len() != self.dim {
            return Err(DebiasError::Dim {
                got: v.len(),
                want: self.dim,
            });
        }
        let unknown = || DebiasError::UnknownLang {
            method: self.method,
            lang: lang.to_string(),
            known: self.fitted_langs().join(" "),
        };
        match self.method {
            DebiasMethod::None => return Ok(()),
            DebiasMethod::Center => {
                let m = self.means.get(lang).ok_or_else(unknown)?;
                v.iter_mut().zip(m).for_each(|(x, m)| *x -= m);
            }
            DebiasMethod::Lir(_) => project_out(v, self.lang_dirs.get(lang).ok_or_else(unknown)?),
            DebiasMethod::Subspace(_) => project_out(v, &self.shared_dirs),
        }
        let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        if n > 0.0 {
            v.iter_mut().for_each(|x| *x /= n);
        }
        Ok(())
    }

    /// The languages with statistics of their own.
    pub fn fitted_langs(&self) -> Vec<String> {
        match self.method {
            DebiasMethod::Center => self.means.keys().cloned().collect(),
            DebiasMethod::Lir(_) => self.lang_dirs.keys().cloned().collect(),
            DebiasMethod::None | DebiasMethod::Subspace(_) => self.counts.keys().cloned().collect(),
        }
    }

    /// Like [`Debias::apply`], but a language without statistics of its own
    /// gets a fallback instead of an error: `center` subtracts the average
    /// of the fitted language means, `lir` only normalizes. Returns whether
    /// the fallback was used, so the caller can say so.
    pub fn apply_or_fallback(&self, lang: &str, v: &mut [f32]) -> Result<bool, DebiasError> {
        let known = match self.method {
            DebiasMethod::Center => self.means.contains_key(lang),
            DebiasMethod::Lir(_) => self.lang_dirs.contains_key(lang),
            DebiasMethod::None | DebiasMethod::Subspace(_) => true,
        };
        if known {
            self.apply(lang, v)?;
            return Ok(false);
        }
        if v.len() != self.dim {
            return Err(DebiasError::Dim {
                got: v.len(),
                want: self.dim,
            });
        }
        if self.method == DebiasMethod::Center && !self.means.is_empty() {
            let k = self.means.len() as f32;
            for m in self.means.values() {
                v.iter_mut().zip(m).for_each(|(x, m)| *x -= m / k);
            }
        }
        let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        if n > 0.0 {
            v.iter_mut().for_each(|x| *x /= n);
        }
        Ok(true)
    }

    /// Applies the transform to every vector of `vs`, whose languages are `langs`.
    pub fn apply_all<S: AsRef<str>>(
        &self,
        langs: &[S],
        vs: &mut [Vec<f32>],
    ) -> Result<(), DebiasError> {
        for (l, v) in langs.iter().zip(vs.iter_mut()) {
            self.apply(l.as_ref(), v)?;
        }
        Ok(())
    }
}

fn project_out(v: &mut [f32], dirs: &[Vec<f32>]) {
    for d in dirs {
        let p: f32 = v.iter().zip(d).map(|(a, b)| a * b).sum();
        v.iter_mut().zip(d).for_each(|(x, d)| *x -= p * d);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two languages whose vectors share content directions (e0, e1) but each
    /// carries its own language offset (e2 for "aa", e3 for "bb").
    fn toy() -> (Vec<Vec<f32>>, Vec<Vec<f32>>) {
        let mk = |c: [f32; 2], lang: usize| {
            let mut v = vec![0f32; 4];
            v[0] = c[0];
            v[1] = c[1];
            v[2 + lang] = 2.0;
            v
        };
        let contents = [[1.0, 0.0], [0.0, 1.0], [0.7, 0.7], [1.0, -0.5]];
        let a = contents.iter().map(|&c| mk(c, 0)).collect();
        let b = contents.iter().map(|&c| mk(c, 1)).collect();
        (a, b)
    }

    fn groups<'a>(a: &'a [Vec<f32>], b: &'a [Vec<f32>]) -> BTreeMap<String, Vec<&'a [f32]>> {
        let mut g = BTreeMap::new();
        g.insert("aa".to_string(), a.iter().map(|v| v.as_slice()).collect());
        g.insert("bb".to_string(), b.iter().map(|v| v.as_slice()).collect());
        g
    }

    fn cos(a: &[f32], b: &[f32]) -> f32 {
        let d: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
        let n = |v: &[f32]| v.iter().map(|x| x * x).sum::<f32>().sqrt();
        d / (n(a) * n(b))
    }

    #[test]
    fn every_method_makes_translations_closer_than_same_language_neighbours() {
        let (a, b) = toy();
        // before: the same-language non-translation wins
        assert!(cos(&a[0], &a[1]) > cos(&a[0], &b[0]));
        for m in [
            DebiasMethod::Center,
            DebiasMethod::Lir(1),
            DebiasMethod::Subspace(1),
        ] {
            let d = Debias::fit(m, &groups(&a, &b), 1).unwrap();
            let (mut a2, mut b2) = (a.clone(), b.clone());
            d.apply_all(&["aa"; 4], &mut a2).unwrap();
            d.apply_all(&["bb"; 4], &mut b2).unwrap();
            for i in 0..4 {
                let n: f32 = a2[i].iter().map(|x| x * x).sum();
                assert!((n - 1.0).abs() < 1e-5, "{m}: not normalized");
                for j in 0..4 {
                    if i != j {
                        assert!(
                            cos(&a2[i], &b2[i]) > cos(&a2[i], &a2[j]) + 1e-4,
                            "{m}: {i} vs {j}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn unknown_language_is_an_error_except_for_the_shared_subspace() {
        let (a, b) = toy();
        let mut v = a[0].clone();
        for m in [DebiasMethod::Center, DebiasMethod::Lir(1)] {
            let d = Debias::fit(m, &groups(&a, &b), 1).unwrap();
            let e = d.apply("cc", &mut v).unwrap_err().to_string();
            assert!(e.contains("'cc'") && e.contains("aa bb"), "{e}");
        }
        let d = Debias::fit(DebiasMethod::Subspace(1), &groups(&a, &b), 1).unwrap();
        d.apply("cc", &mut v).unwrap();
        let e = d.apply("aa", &mut [1.0]).unwrap_err().to_string();
        assert!(e.contains("dimension 1"), "{e}");
    }

    #[test]
    fn parse_display_and_serde_round_trip() {
        for s in ["none", "center", "lir:2", "subspace:3"] {
            let m: DebiasMethod = s.parse().unwrap();
            assert_eq!(m.to_string(), s);
        }
        for bad in ["lir", "lir:0", "subspace:x", "mean"] {
            assert!(bad.parse::<DebiasMethod>().is_err(), "{bad}");
        }
        let (a, b) = toy();
        let d = Debias::fit(DebiasMethod::Subspace(1), &groups(&a, &b), 1).unwrap();
        let j = serde_json::to_string(&d).unwrap();
        assert_eq!(serde_json::from_str::<Debias>(&j).unwrap(), d);
        let e = Debias::fit(DebiasMethod::Subspace(2), &groups(&a, &b), 1).unwrap_err();
        assert!(e.to_string().contains("number of languages"), "{e}");
    }

    #[test]
    fn rare_languages_get_the_fallback_and_it_is_reported() {
        let (a, b) = toy();
        let d = Debias::fit(DebiasMethod::Center, &groups(&a, &b[..2]), 3).unwrap();
        assert_eq!(d.fitted_langs(), vec!["aa".to_string()]);
        let mut v = b[0].clone();
        let e = d.apply("bb", &mut v).unwrap_err().to_string();
        assert!(e.contains("'bb'") && e.contains("fitted on: aa"), "{e}");
        // fallback: the average of the fitted means (here aa's only)
        let mut w = b[0].clone();
        assert!(d.apply_or_fallback("bb", &mut w).unwrap());
        let mut want = b[0].clone();
        want.iter_mut()
            .zip(&d.means["aa"])
            .for_each(|(x, m)| *x -= m);
        let n = want.iter().map(|x| x * x).sum::<f32>().sqrt();
        for (x, y) in w.iter().zip(&want) {
            assert!((x - y / n).abs() < 1e-6);
        }
        let mut u = a[0].clone();
        assert!(!d.apply_or_fallback("aa", &mut u).unwrap());
    }
}
