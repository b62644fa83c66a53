//! `xlqa serve`: argument parsing for the HTTP service (xlqa-serve).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::Args;
use xlqa_search::{EncoderChoice, EngineBuilder};
use xlqa_serve::{Limits, ServeOptions};

use crate::{encoder_choice, home, EncoderArgs, ReaderArgs};

#[derive(Args)]
pub struct ServeArgs {
    /// The index directory.
    index: PathBuf,
    /// Address to listen on. Anything but loopback needs an API key.
    #[arg(long, default_value = "127.0.0.1:8080")]
    addr: SocketAddr,
    /// API key every request but /v1/health must carry (`Authorization:
    /// Bearer KEY` or `X-API-Key: KEY`).
    #[arg(long, env = "XLQA_API_KEY", hide_env_values = true)]
    api_key: Option<String>,
    /// Readers to load (comma-separated: span, sentence, llm). A request
    /// may name any loaded one; llm installs ~500 MB on first use.
    #[arg(long, value_delimiter = ',', default_value = "span,sentence")]
    readers: Vec<String>,
    /// Questions answered at the same time (default: the number of cores).
    #[arg(long)]
    workers: Option<usize>,
    /// Requests that may wait for a worker; more get 503 with Retry-After.
    #[arg(long, default_value_t = 64)]
    queue: usize,
    /// Seconds from a request's arrival to its answer (503 while queued, 504 after).
    #[arg(long, default_value_t = 30.0)]
    timeout_s: f64,
    /// Largest request body, in KiB.
    #[arg(long, default_value_t = 256)]
    max_body_kib: usize,
    /// Longest question, in characters.
    #[arg(long, default_value_t = 2000)]
    max_question_chars: usize,
    /// Most questions in one batch request.
    #[arg(long, default_value_t = 64)]
    max_batch: usize,
    /// Largest document batch (POST /v1/documents), in MiB.
    #[arg(long, default_value_t = 16)]
    max_documents_mib: usize,
    /// Seconds a document batch may take (encoding is slower than answering).
    #[arg(long, default_value_t = 600.0)]
    update_timeout_s: f64,
    /// After SIGTERM, seconds in-flight requests get to finish.
    #[arg(long, default_value_t = 30.0)]
    drain_s: f64,
    #[command(flatten)]
    span_reader: ReaderArgs,
    #[command(flatten)]
    enc: EncoderArgs,
}

fn seconds(v: f64, flag: &str) -> Result<Duration> {
    Duration::try_from_secs_f64(v)
        .ok()
        .filter(|d| !d.is_zero())
        .with_context(|| format!("{flag} must be a positive number of seconds (got {v})"))
}

impl ServeArgs {
    fn options(&self) -> Result<ServeOptions> {
        let d = Limits::default();
        let limits = Limits {
            max_body_bytes: self.max_body_kib.max(1) * 1024,
            max_question_chars: self.max_question_chars.max(1),
            max_batch: self.max_batch.max(1),
            workers: self.workers.unwrap_or(d.workers).max(1),
            queue: self.queue,
            timeout: seconds(self.timeout_s, "--timeout-s")?,
            max_documents_bytes: self.max_documents_mib.max(1) << 20,
            update_timeout: seconds(self.update_timeout_s, "--update-timeout-s")?,
        };
        Ok(ServeOptions {
            addr: self.addr,
            api_key: self.api_key.clone(),
            limits,
            drain: seconds(self.drain_s, "--drain-s")?,
        })
    }
}

pub fn run(a: ServeArgs) -> Result<()> {
    let opts = a.options()?;
    xlqa_serve::check_exposure(opts.addr, opts.api_key.as_deref())?;
    let progress = |m: &str| eprintln!("{m}");
    let mut b = EngineBuilder::new(&a.index)
        .home(home()?)
        .encoder(EncoderChoice {
            batch_size: a.enc.batch_size.max(1),
            ..encoder_choice(&a.enc)
        })
        .span_reader_dir(a.span_reader.reader_dir.clone())
        .span_exact(a.span_reader.reader_exact)
        .progress(&progress);
    for r in &a.readers {
        b = b.reader(r.trim());
    }
    let engine = b
        .build()
        .with_context(|| format!("opening {}", a.index.display()))?;
    xlqa_serve::serve(engine, &a.index, opts, |addr| {
        eprintln!("xlqa serve: listening on http://{addr}/ (the page; the API is described at http://{addr}/openapi.json)");
    })?;
    Ok(())
}
