//! Shared ban lists (`ban_lists`): user ids read from files (at start) or
//! URLs (at start and then polled), banned on sight. An id applies on every
//! adapter unless pinned as `ADAPTER:ID`.

use std::collections::HashSet;
use std::sync::{Mutex, RwLock};

use chrono::{DateTime, Utc};

use crate::bot::Scoped;
use crate::error::BoxError;
use crate::event::{AdapterId, UserId};
use crate::scheduler::{CronExpr, Job, Missed};

/// The id of the cron job that polls URL lists (every minute; each URL is
/// fetched when its own `every` has passed).
pub(crate) const JOB: &str = "moderation.ban_lists";

/// The users of every configured list.
#[derive(Debug, Default)]
pub(crate) struct BanList {
    /// The ids of the files.
    files: Lists,
    /// The URL sources.
    urls: Vec<Source>,
    /// The bot's adapters, for `ADAPTER:ID` in fetched lists.
    adapters: Vec<AdapterId>,
}

/// A list polled from a URL.
#[derive(Debug)]
struct Source {
    /// Where it is fetched from.
    url: String,
    /// How often.
    every: chrono::Duration,
    /// The ids of the last successful fetch.
    lists: RwLock<Lists>,
    /// When the next fetch is due (`None`: now).
    next: Mutex<Option<DateTime<Utc>>>,
}

impl BanList {
    /// An empty list for a bot of `adapters`.
    pub(crate) fn new(adapters: &[AdapterId]) -> Self {
        Self {
            adapters: adapters.to_vec(),
            ..Self::default()
        }
    }

    /// Add the ids of a list file's `text`.
    pub(crate) fn extend(&mut self, text: &str) {
        self.files.extend(text, &self.adapters);
    }

    /// Poll `url` every `every`.
    pub(crate) fn add_url(&mut self, url: String, every: std::time::Duration) {
        self.urls.push(Source {
            url,
            every: chrono::Duration::from_std(every).unwrap_or(chrono::Duration::MAX),
            lists: RwLock::new(Lists::default()),
            next: Mutex::new(None),
        });
    }

    /// Whether `user` of `adapter` is on any list.
    pub(crate) fn contains(&self, adapter: &AdapterId, user: &UserId) -> bool {
        self.files.contains(adapter, user)
            || self.urls.iter().any(|s| {
                s.lists
                    .read()
                    .unwrap_or_else(|e| e.into_inner())
                    .contains(adapter, user)
            })
    }

    /// The polling job, when there are URLs.
    pub(crate) fn job(&self) -> Option<Job> {
        if self.urls.is_empty() {
            return None;
        }
        Some(Job {
            id: JOB.to_owned(),
            cron: CronExpr::parse("0 * * * * *").ok()?,
            starts: None,
            ends: None,
            missed: Missed::Skip,
        })
    }

    /// Fetch the URLs whose time has come at `now`. A failed fetch keeps
    /// the last list and is logged; it is tried again after `every`.
    pub(crate) async fn poll(&self, now: DateTime<Utc>) {
        for source in &self.urls {
            {
                let mut next = source.next.lock().unwrap_or_else(|e| e.into_inner());
                if next.is_some_and(|n| now < n) {
                    continue;
                }
                *next = Some(now + source.every);
            }
            match fetch(&source.url).await {
                Ok(text) => {
                    let mut lists = Lists::default();
                    lists.extend(&text, &self.adapters);
                    tracing::info!(url = %source.url, ids = lists.len(), "moderation: ban list fetched");
                    *source.lists.write().unwrap_or_else(|e| e.into_inner()) = lists;
                }
                Err(error) => tracing::warn!(url = %source.url, %error, "moderation: ban list not fetched"),
            }
        }
    }
}

async fn fetch(url: &str) -> Result<String, BoxError> {
    let client = crate::adapter::http::client()?;
    let response = client.get(url).send().await?.error_for_status()?;
    Ok(response.text().await?)
}

/// Ids of one or more list texts.
#[derive(Debug, Default)]
struct Lists {
    /// Ids listed for every adapter.
    anywhere: HashSet<UserId>,
    /// Ids listed for one adapter.
    pinned: HashSet<(AdapterId, UserId)>,
}

impl Lists {
    /// How many ids.
    fn len(&self) -> usize {
        self.anywhere.len() + self.pinned.len()
    }

    /// Add the ids of a list's `text` (one a line, `#` comments and blank
    /// lines skipped); `adapters` are the bot's, for `ADAPTER:ID`.
    fn extend(&mut self, text: &str, adapters: &[AdapterId]) {
        for line in text.lines() {
            let line = line.split('#').next().unwrap_or_default().trim();
            if line.is_empty() {
                continue;
            }
            let scoped: Scoped<UserId> = Scoped::parse(line, adapters);
            match scoped.adapter {
                Some(adapter) => {
                    self.pinned.insert((adapter, scoped.id));
                }
                None => {
                    self.anywhere.insert(scoped.id);
                }
            }
        }
    }

    /// Whether `user` of `adapter` is listed.
    fn contains(&self, adapter: &AdapterId, user: &UserId) -> bool {
        if self.anywhere.is_empty() && self.pinned.is_empty() {
            return false;
        }
        self.anywhere.contains(user) || self.pinned.contains(&(adapter.clone(), user.clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_apply_everywhere_unless_pinned() {
        let adapters: Vec<AdapterId> = vec!["tg".into(), "console".into()];
        let mut list = BanList::new(&adapters);
        list.extend("# spammers\nspam1\n\ntg:spam2  # pinned\n");
        assert!(list.contains(&"console".into(), &"spam1".into()));
        assert!(list.contains(&"tg".into(), &"spam1".into()));
        assert!(list.contains(&"tg".into(), &"spam2".into()));
        assert!(!list.contains(&"console".into(), &"spam2".into()));
        assert!(!list.contains(&"tg".into(), &"alice".into()));
    }
}
