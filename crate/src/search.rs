//! Why search explodes: Deep Blue's arithmetic, and minimax on tic-tac-toe.
//!
//! Chess offers about 35 moves per turn, so looking `t` turns ahead means `35^t` positions: at a
//! billion positions a second, 10 turns take about a month (the slide's "30 days"). Deep Blue
//! looked about 7 turns ahead and scored the positions there with a rule written by its
//! programmers. The same idea, small enough to count every node: tic-tac-toe.
//!
//! ```
//! use tinyml_kit::search::{deep_blue, TicTacToe};
//! let cost = deep_blue(35.0, 10, 1e9);
//! assert!((cost.days() - 31.9).abs() < 0.1);
//! let full = TicTacToe::new().best_move(None);
//! assert_eq!(full.score, 0); // perfect play is a draw
//! ```

use std::fmt;

use serde::Serialize;

use crate::error::{Error, Result};
use crate::plot::{Figure, Table};

const SECONDS_PER_DAY: f64 = 86_400.0;
const SECONDS_PER_YEAR: f64 = 365.25 * SECONDS_PER_DAY;

/// What a brute-force search costs.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct SearchCost {
    /// Average moves per turn (35 in chess).
    pub moves_per_turn: f64,
    /// Turns looked ahead.
    pub turns: u32,
    /// Positions checked per second.
    pub guesses_per_second: f64,
    /// `moves_per_turn ^ turns`.
    pub positions: f64,
    /// `positions / guesses_per_second`.
    pub seconds: f64,
}

/// The cost of looking `turns` turns ahead with `moves_per_turn` choices each, checking
/// `guesses_per_second` positions a second.
pub fn deep_blue(moves_per_turn: f64, turns: u32, guesses_per_second: f64) -> SearchCost {
    let positions = moves_per_turn.powi(turns as i32);
    SearchCost {
        moves_per_turn,
        turns,
        guesses_per_second,
        positions,
        seconds: positions / guesses_per_second,
    }
}

impl SearchCost {
    /// The time in days.
    pub fn days(&self) -> f64 {
        self.seconds / SECONDS_PER_DAY
    }

    /// Checks the inputs (for the command line, which takes them from users).
    pub fn validate(&self) -> Result<()> {
        if !(self.moves_per_turn.is_finite() && self.moves_per_turn >= 1.0) {
            return Err(Error::param(
                "moves",
                format!("{} (at least 1 move per turn)", self.moves_per_turn),
            ));
        }
        if !(self.guesses_per_second.is_finite() && self.guesses_per_second > 0.0) {
            return Err(Error::param(
                "rate",
                format!(
                    "{} (positions per second must be positive)",
                    self.guesses_per_second
                ),
            ));
        }
        if !self.positions.is_finite() {
            return Err(Error::param(
                "turns",
                format!(
                    "{} turns overflow: more positions than a number can hold",
                    self.turns
                ),
            ));
        }
        Ok(())
    }

    /// The time in the largest unit that reads well: "31.9 days", "4.2 years", "0.5 seconds".
    pub fn human_time(&self) -> String {
        human_duration(self.seconds)
    }

    /// The arithmetic, one step a row: positions, seconds, days.
    pub fn steps(&self) -> Table {
        Table::new(&["step", "arithmetic", "result"])
            .row(vec![
                "positions".into(),
                format!("{}^{}", self.moves_per_turn, self.turns),
                whole(self.positions),
            ])
            .row(vec![
                "seconds".into(),
                format!("positions ÷ {} a second", whole(self.guesses_per_second)),
                whole(self.seconds),
            ])
            .row(vec![
                "days".into(),
                "seconds ÷ 86,400 a day".into(),
                format!("{:.1}", self.days()),
            ])
    }

    /// The JSON form used by `tinyml search deep-blue --json`.
    pub fn json(&self) -> serde_json::Value {
        serde_json::json!({
            "moves_per_turn": self.moves_per_turn,
            "turns": self.turns,
            "guesses_per_second": self.guesses_per_second,
            "positions": self.positions,
            "seconds": self.seconds,
            "days": self.days(),
            "human": self.human_time(),
        })
    }

    /// Shows the sentence in Jupyter.
    pub fn evcxr_display(&self) {
        println!("{self}");
    }
}

impl fmt::Display for SearchCost {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}^{} = {:.3e} positions; at {:.0e} guesses per second: {}",
            self.moves_per_turn,
            self.turns,
            self.positions,
            self.guesses_per_second,
            self.human_time()
        )
    }
}

/// A whole number with thousands separators ("2,758,547"); past 10^18, in scientific notation.
fn whole(x: f64) -> String {
    if !(x.is_finite() && x.abs() < 1e18) {
        return format!("{x:.3e}");
    }
    let digits = format!("{:.0}", x.abs());
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    if x < 0.0 {
        out.insert(0, '-');
    }
    out
}

/// "31.9 days", "2.8 hours", "4.2e3 years".
pub fn human_duration(seconds: f64) -> String {
    let units = [
        (SECONDS_PER_YEAR, "years"),
        (SECONDS_PER_DAY, "days"),
        (3600.0, "hours"),
        (60.0, "minutes"),
    ];
    for (size, name) in units {
        if seconds >= size {
            let v = seconds / size;
            return if v >= 1e4 {
                format!("{v:.1e} {name}")
            } else {
                format!("{v:.1} {name}")
            };
        }
    }
    format!("{seconds:.2} seconds")
}

/// Positions against turns on a log scale, with lines for what one second, one day and one year
/// of search at `guesses_per_second` can check.
pub fn growth_figure(moves_per_turn: f64, max_turns: u32, guesses_per_second: f64) -> Figure {
    let points = (1..=max_turns.max(1))
        .map(|t| (t as f64, moves_per_turn.powi(t as i32)))
        .collect();
    Figure::lines(
        &format!("Search explodes: {moves_per_turn}^turns positions"),
        "turns looked ahead",
        "positions (log scale)",
    )
    .line(&format!("{moves_per_turn}^turns"), points)
    .log_y()
    .y_marker(guesses_per_second, "1 second of search")
    .y_marker(guesses_per_second * SECONDS_PER_DAY, "1 day")
    .y_marker(guesses_per_second * SECONDS_PER_YEAR, "1 year")
}

/// A tic-tac-toe position. Cells are numbered 0..9 left to right, top to bottom.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TicTacToe {
    cells: [u8; 9], // 0 empty, 1 X, 2 O
}

const LINES: [[usize; 3]; 8] = [
    [0, 1, 2],
    [3, 4, 5],
    [6, 7, 8],
    [0, 3, 6],
    [1, 4, 7],
    [2, 5, 8],
    [0, 4, 8],
    [2, 4, 6],
];
const WIN: i32 = 100;

/// What a search found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct SearchResult {
    /// The cell to play (`None` when the game is over).
    pub best_move: Option<usize>,
    /// The position's value for X: +100-ish X wins, −100-ish O wins, 0 a draw; in between, the
    /// scoring rule's estimate at the depth limit.
    pub score: i32,
    /// Positions looked at (the root included).
    pub nodes: u64,
    /// The depth limit (`None`: search to the end of the game).
    pub depth_limit: Option<u32>,
}

impl TicTacToe {
    /// The empty board, X to move.
    pub fn new() -> TicTacToe {
        TicTacToe { cells: [0; 9] }
    }

    /// A board from 9 characters `X`, `O` and `.` (spaces and `|` ignored), row by row.
    pub fn parse(board: &str) -> Result<TicTacToe> {
        let chars: Vec<char> = board
            .chars()
            .filter(|c| !c.is_whitespace() && *c != '|')
            .collect();
        if chars.len() != 9 {
            return Err(Error::param(
                "board",
                format!("'{board}' has {} cells; write 9 of X, O and .", chars.len()),
            ));
        }
        let mut cells = [0u8; 9];
        for (cell, c) in cells.iter_mut().zip(&chars) {
            *cell = match c.to_ascii_uppercase() {
                'X' => 1,
                'O' => 2,
                '.' | '_' | '-' => 0,
                other => return Err(Error::param("board", format!("'{other}' is not X, O or ."))),
            };
        }
        let (x, o) = (
            cells.iter().filter(|&&c| c == 1).count(),
            cells.iter().filter(|&&c| c == 2).count(),
        );
        if !(x == o || x == o + 1) {
            return Err(Error::param(
                "board",
                format!("{x} X and {o} O: X moves first, so X has as many marks as O or one more"),
            ));
        }
        Ok(TicTacToe { cells })
    }

    /// Who moves next: 'X' or 'O'.
    pub fn to_move(&self) -> char {
        if self.cells.iter().filter(|&&c| c != 0).count() % 2 == 0 {
            'X'
        } else {
            'O'
        }
    }

    /// The empty cells.
    pub fn moves(&self) -> Vec<usize> {
        (0..9).filter(|&i| self.cells[i] == 0).collect()
    }

    /// The board after the player to move takes `cell`.
    pub fn play(&self, cell: usize) -> Result<TicTacToe> {
        if cell >= 9 || self.cells[cell] != 0 {
            return Err(Error::param(
                "cell",
                format!("{cell} is not an empty cell (empty: {:?})", self.moves()),
            ));
        }
        if self.winner().is_some() {
            return Err(Error::param("cell", "the game is over"));
        }
        let mut next = *self;
        next.cells[cell] = if self.to_move() == 'X' { 1 } else { 2 };
        Ok(next)
    }

    /// 'X' or 'O' when one has three in a row.
    pub fn winner(&self) -> Option<char> {
        LINES.iter().find_map(|l| {
            let c = self.cells[l[0]];
            (c != 0 && c == self.cells[l[1]] && c == self.cells[l[2]]).then_some(if c == 1 {
                'X'
            } else {
                'O'
            })
        })
    }

    /// The programmers' scoring rule for unfinished positions: lines X can still complete
    /// minus lines O can still complete.
    pub fn score_rule(&self) -> i32 {
        let open = |player: u8| {
            LINES
                .iter()
                .filter(|l| {
                    l.iter()
                        .all(|&i| self.cells[i] == 0 || self.cells[i] == player)
                })
                .count() as i32
        };
        open(1) - open(2)
    }

    /// Minimax from this position: X maximises the score, O minimises it. With a depth limit,
    /// positions that deep are scored by [`TicTacToe::score_rule`] instead of searched further.
    pub fn best_move(&self, depth_limit: Option<u32>) -> SearchResult {
        let mut nodes = 0;
        let (score, best_move) = self.minimax(0, depth_limit, &mut nodes);
        SearchResult {
            best_move,
            score,
            nodes,
            depth_limit,
        }
    }

    fn minimax(&self, depth: u32, limit: Option<u32>, nodes: &mut u64) -> (i32, Option<usize>) {
        *nodes += 1;
        // Faster wins score higher: a win found at depth d is worth 100 - d.
        match self.winner() {
            Some('X') => return (WIN - depth as i32, None),
            Some(_) => return (depth as i32 - WIN, None),
            None => {}
        }
        let moves = self.moves();
        if moves.is_empty() {
            return (0, None);
        }
        if limit.is_some_and(|l| depth >= l) {
            return (self.score_rule(), None);
        }
        let maximise = self.to_move() == 'X';
        let mut best: Option<(i32, usize)> = None;
        for m in moves {
            let child = self
                .play(m)
                .expect("moves() are empty cells of an unfinished game");
            let (score, _) = child.minimax(depth + 1, limit, nodes);
            let better = match best {
                None => true,
                Some((b, _)) => (maximise && score > b) || (!maximise && score < b),
            };
            if better {
                best = Some((score, m));
            }
        }
        let (score, m) = best.expect("at least one move");
        (score, Some(m))
    }

    /// Shows the board in Jupyter.
    pub fn evcxr_display(&self) {
        println!("{self}");
    }
}

impl Default for TicTacToe {
    fn default() -> Self {
        TicTacToe::new()
    }
}

impl fmt::Display for TicTacToe {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for row in 0..3 {
            let cells: Vec<&str> = (0..3)
                .map(|c| ["·", "X", "O"][self.cells[row * 3 + c] as usize])
                .collect();
            writeln!(f, " {} ", cells.join(" | "))?;
            if row < 2 {
                writeln!(f, "---+---+---")?;
            }
        }
        Ok(())
    }
}

/// Minimax from the empty board at depth limits 1..=9 and without a limit: nodes searched,
/// best first move and its score.
pub fn depth_table() -> (Table, Vec<SearchResult>) {
    let board = TicTacToe::new();
    let mut results: Vec<SearchResult> = (1..=9).map(|d| board.best_move(Some(d))).collect();
    results.push(board.best_move(None));
    let mut t = Table::new(&[
        "depth limit",
        "positions searched",
        "best first move",
        "score",
    ]);
    for r in &results {
        t.push(vec![
            r.depth_limit
                .map(|d| d.to_string())
                .unwrap_or_else(|| "none (to the end)".into()),
            r.nodes.to_string(),
            r.best_move
                .map(|m| format!("cell {m}"))
                .unwrap_or_else(|| "-".into()),
            r.score.to_string(),
        ]);
    }
    (t, results)
}

/// Positions searched at each depth limit, as bars on a log scale.
pub fn depth_figure(results: &[SearchResult]) -> Figure {
    let bars = results
        .iter()
        .map(|r| {
            (
                r.depth_limit
                    .map(|d| d.to_string())
                    .unwrap_or_else(|| "full".into()),
                r.nodes as f64,
            )
        })
        .collect();
    Figure::bars(
        "Tic-tac-toe: positions searched by minimax",
        "depth limit (turns looked ahead)",
        "positions (log scale)",
        bars,
    )
    .log_y()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_slide_arithmetic() {
        let c = deep_blue(35.0, 10, 1e9);
        assert_eq!(c.positions, 35f64.powi(10));
        assert!((c.positions - 2.758547353515625e15).abs() < 1.0);
        assert_eq!(c.human_time(), "31.9 days");
        assert!(
            deep_blue(35.0, 7, 1e9).seconds < 100.0,
            "7 turns: about a minute"
        );
        assert!(deep_blue(35.0, 400, 1e9).validate().is_err());
        assert!(deep_blue(35.0, 10, 0.0).validate().is_err());
    }

    #[test]
    fn the_steps_show_where_31_9_days_come_from() {
        let text = deep_blue(35.0, 10, 1e9).steps().to_string();
        for piece in [
            "2,758,547,353,515,625",
            "1,000,000,000",
            "2,758,547",
            "31.9",
        ] {
            assert!(text.contains(piece), "{piece} in {text}");
        }
        assert_eq!(whole(-1234.0), "-1,234");
        assert_eq!(whole(999.0), "999");
        assert_eq!(whole(1e20), "1.000e20");
    }

    #[test]
    fn full_minimax_visits_the_whole_game_tree_and_draws() {
        let r = TicTacToe::new().best_move(None);
        // The tic-tac-toe game tree has 549,946 nodes (255,168 finished games).
        assert_eq!(r.nodes, 549_946);
        assert_eq!(r.score, 0);
    }

    #[test]
    fn depth_limits_cut_the_search_and_still_find_wins() {
        let (_, results) = depth_table();
        assert_eq!(results[0].nodes, 10, "depth 1: the root and its 9 children");
        assert!(results.windows(2).all(|w| w[0].nodes <= w[1].nodes));
        // X to move wins at once in cell 2 even with a depth limit of 1.
        let b = TicTacToe::parse("XX. OO. ...").unwrap();
        assert_eq!(b.best_move(Some(1)).best_move, Some(2));
        // O must block.
        let b = TicTacToe::parse("XX. .O. ...").unwrap();
        assert_eq!(b.best_move(Some(2)).best_move, Some(2));
    }

    #[test]
    fn bad_boards_are_refused() {
        assert!(TicTacToe::parse("XXX").is_err());
        assert!(TicTacToe::parse("XXXXX....").is_err());
        assert!(TicTacToe::parse("XZ.......").is_err());
        assert!(TicTacToe::new().play(9).is_err());
        assert!(TicTacToe::new().play(4).unwrap().play(4).is_err());
    }
}
