//! The bookkeeping of one paged full read (RFC 7644 §3.4.2.4): which page comes next, whether
//! the read added up, and whether the listing moves forward at all.
//!
//! Two kinds of trouble, kept apart:
//! - *Drift*: Notion's order is unstable, so records can move between pages while `totalResults`
//!   still adds up. Duplicates, a moving `totalResults`, an early empty page: the read did not
//!   add up (`problems`); the caller re-reads and, if it still does not add up, deactivates nobody.
//! - *No progress*: a page that brings no id not already read (a server that ignores
//!   `startIndex` serves page 1 forever), or more pages than `totalResults` allows at the page
//!   size the server serves. The listing would never end, or only after as many requests as a
//!   lying `totalResults` says: the read stops at once ([`Step::Stalled`]).
//!
//! Pure (no I/O): the client feeds it pages.

use foldhash::HashSet;

/// Pages allowed beyond `ceil(totalResults / page size)`: records inserted during the read shift
/// the later pages by a few places.
pub const PAGE_SLACK: u64 = 2;
/// Pages of one read, whatever the target says: 10 million resources at 100 a page.
pub const MAX_PAGES: u64 = 100_000;

/// What to do after a page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Ask for the page at this `startIndex`.
    Next(u64),
    /// The listing ended (check [`Pager::problems`] for whether it added up).
    Done,
    /// The listing makes no progress; why, in words.
    Stalled(String),
}

/// One full read of `resource` in progress.
#[derive(Debug)]
pub struct Pager {
    resource: String,
    page_size: u64,
    start: u64,
    pages: u64,
    first_total: Option<u64>,
    largest_total: u64,
    largest_page: u64,
    seen: HashSet<String>,
    duplicates: usize,
    missing_ids: usize,
    problems: Vec<String>,
}

impl Pager {
    /// A read of `resource` (`Users`, `Groups`) asking `page_size` a page, from `startIndex` 1.
    pub fn new(resource: &str, page_size: u32) -> Self {
        Self {
            resource: resource.to_owned(),
            page_size: u64::from(page_size.max(1)),
            start: 1,
            pages: 0,
            first_total: None,
            largest_total: 0,
            largest_page: 0,
            seen: HashSet::default(),
            duplicates: 0,
            missing_ids: 0,
            problems: Vec::new(),
        }
    }

    /// The `startIndex` of the page to ask for next.
    pub fn start(&self) -> u64 {
        self.start
    }

    /// `totalResults` as the first page said it, once a page said it.
    pub fn first_total(&self) -> Option<u64> {
        self.first_total
    }

    /// Pages read so far.
    pub fn pages(&self) -> u64 {
        self.pages
    }

    /// Record one item of the current page by its id: `true` when it is new to this read (keep
    /// it), `false` for a duplicate or an item without id.
    pub fn accept(&mut self, id: &str) -> bool {
        if id.is_empty() {
            self.missing_ids += 1;
            false
        } else if self.seen.insert(id.to_owned()) {
            true
        } else {
            self.duplicates += 1;
            false
        }
    }

    /// Close the current page: it listed `got` items, `new` of them not read before, and said
    /// `totalResults` = `total`.
    pub fn end_page(&mut self, total: Option<u64>, got: u64, new: u64) -> Step {
        let start = self.start;
        self.pages += 1;
        self.largest_page = self.largest_page.max(got);
        match (self.first_total, total) {
            (_, None) => self.problems.push(format!(
                "the page at startIndex {start} has no totalResults"
            )),
            (None, Some(t)) => self.first_total = Some(t),
            (Some(first), Some(t)) if first != t => self.problems.push(format!(
                "totalResults changed from {first} to {t} at startIndex {start}"
            )),
            _ => {}
        }
        self.largest_total = self.largest_total.max(total.unwrap_or(0));
        if got > 0 && new == 0 {
            return Step::Stalled(format!(
                "the page at startIndex {start} listed no {} that earlier pages had not (the target \
                 seems to ignore startIndex)",
                self.resource
            ));
        }
        let per_page = self.largest_page.min(self.page_size).max(1);
        let allowed = self.largest_total.div_ceil(per_page) + PAGE_SLACK;
        if self.pages > allowed.min(MAX_PAGES) {
            return Step::Stalled(format!(
                "{} pages were read and the listing has not ended, although totalResults {} at \
                 {per_page} a page needs {}",
                self.pages,
                self.largest_total,
                self.largest_total.div_ceil(per_page)
            ));
        }
        let Some(expected) = self.first_total else {
            return Step::Done;
        };
        self.start += got;
        if self.start > expected {
            return Step::Done;
        }
        if got == 0 {
            self.problems.push(format!(
                "the page at startIndex {} was empty although totalResults is {expected}",
                self.start
            ));
            return Step::Done;
        }
        Step::Next(self.start)
    }

    /// Why the read does not add up (empty when it does), once the listing is done.
    pub fn problems(&self, distinct: usize) -> Vec<String> {
        let mut problems = self.problems.clone();
        let resource = &self.resource;
        if self.duplicates > 0 {
            problems.push(format!(
                "{} {resource} were listed twice (the order moved during the read)",
                self.duplicates
            ));
        }
        if self.missing_ids > 0 {
            problems.push(format!(
                "{} {resource} were listed without an id",
                self.missing_ids
            ));
        }
        if let Some(expected) = self.first_total {
            if distinct as u64 != expected {
                problems.push(format!(
                    "read {distinct} distinct {resource} but totalResults is {expected}"
                ));
            }
        }
        problems
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feed `pager` a page of these ids.
    fn page(pager: &mut Pager, total: Option<u64>, ids: &[&str]) -> Step {
        let new = ids.iter().filter(|id| pager.accept(id)).count() as u64;
        pager.end_page(total, ids.len() as u64, new)
    }

    fn ids(range: std::ops::Range<u32>) -> Vec<String> {
        range.map(|i| format!("u{i}")).collect()
    }

    fn refs(ids: &[String]) -> Vec<&str> {
        ids.iter().map(String::as_str).collect()
    }

    #[test]
    fn a_stable_listing_ends_after_its_pages_and_adds_up() {
        let mut p = Pager::new("Users", 2);
        assert_eq!(page(&mut p, Some(5), &["a", "b"]), Step::Next(3));
        assert_eq!(page(&mut p, Some(5), &["c", "d"]), Step::Next(5));
        assert_eq!(page(&mut p, Some(5), &["e"]), Step::Done);
        assert!(p.problems(5).is_empty(), "{:?}", p.problems(5));
        assert_eq!(p.pages(), 3);
    }

    #[test]
    fn drift_is_a_problem_not_a_stall() {
        // Someone joined at the front after page 1: page 2 repeats one id and brings one new.
        let mut p = Pager::new("Users", 2);
        assert_eq!(page(&mut p, Some(4), &["a", "b"]), Step::Next(3));
        // The read ends where the first totalResults said it would.
        assert_eq!(page(&mut p, Some(5), &["b", "c"]), Step::Done);
        let problems = p.problems(3).join("; ");
        assert!(
            problems.contains("totalResults changed from 4 to 5"),
            "{problems}"
        );
        assert!(problems.contains("1 Users were listed twice"), "{problems}");
        assert!(
            problems.contains("read 3 distinct Users but totalResults is 4"),
            "{problems}"
        );
        // Someone left after page 1: the last page comes back empty.
        let mut p = Pager::new("Users", 2);
        assert_eq!(page(&mut p, Some(4), &["a", "b"]), Step::Next(3));
        assert_eq!(page(&mut p, Some(3), &["d"]), Step::Next(4));
        assert_eq!(page(&mut p, Some(3), &[]), Step::Done);
        let problems = p.problems(3).join("; ");
        assert!(
            problems.contains("was empty although totalResults is 4"),
            "{problems}"
        );
    }

    #[test]
    fn a_server_that_ignores_start_index_stalls_on_the_second_page() {
        let first = ids(0..100);
        let mut p = Pager::new("Users", 100);
        assert_eq!(
            page(&mut p, Some(1_000_000), &refs(&first)),
            Step::Next(101)
        );
        match page(&mut p, Some(1_000_000), &refs(&first)) {
            Step::Stalled(why) => assert!(why.contains("ignore startIndex"), "{why}"),
            other => panic!("expected a stall, got {other:?}"),
        }
        // Items without an id bring nothing new either.
        let mut p = Pager::new("Groups", 2);
        assert!(matches!(page(&mut p, Some(9), &["", ""]), Step::Stalled(_)));
    }

    #[test]
    fn more_pages_than_total_results_allows_is_a_stall() {
        // A full first page, then one new id a page while totalResults claims 1,000.
        let mut p = Pager::new("Users", 100);
        let first = ids(0..100);
        assert_eq!(page(&mut p, Some(1_000), &refs(&first)), Step::Next(101));
        let mut step = Step::Next(0);
        let mut pages = 1;
        for i in 100..2_000u32 {
            let id = format!("u{i}");
            step = page(&mut p, Some(1_000), &[id.as_str()]);
            pages += 1;
            if !matches!(step, Step::Next(_)) {
                break;
            }
        }
        match step {
            Step::Stalled(why) => assert!(why.contains("totalResults 1000"), "{why}"),
            other => panic!("expected a stall, got {other:?}"),
        }
        // ceil(1000 / 100) + slack pages were allowed, and one more was read.
        assert_eq!(pages, 10 + PAGE_SLACK + 1);
    }

    #[test]
    fn a_server_that_serves_smaller_pages_than_asked_is_fine() {
        // Asked for 100, served 3 a page (RFC 7644 allows fewer): 10 pages for 30.
        let mut p = Pager::new("Users", 100);
        let all = ids(0..30);
        let mut step = Step::Next(1);
        for chunk in all.chunks(3) {
            step = page(&mut p, Some(30), &refs(chunk));
        }
        assert_eq!(step, Step::Done);
        assert!(p.problems(30).is_empty());
    }

    #[test]
    fn a_page_without_total_results_ends_the_read_as_a_problem() {
        let mut p = Pager::new("Users", 2);
        assert_eq!(page(&mut p, None, &["a", "b"]), Step::Done);
        assert!(p.problems(2)[0].contains("no totalResults"));
    }
}
