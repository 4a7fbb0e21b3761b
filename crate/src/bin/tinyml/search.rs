//! `tinyml search …`: Deep Blue's arithmetic and minimax on tic-tac-toe.

use clap::Subcommand;
use tinyml_kit::error::{Error, Result};
use tinyml_kit::search::{deep_blue, depth_table, TicTacToe};

use crate::print_json;

#[derive(Subcommand)]
pub(crate) enum SearchCmd {
    /// The slide's arithmetic: moves^turns positions at a given speed.
    DeepBlue {
        /// Moves per turn.
        #[arg(long, default_value_t = 35.0)]
        moves: f64,
        /// Turns looked ahead.
        #[arg(long, default_value_t = 10)]
        turns: u32,
        /// Positions checked per second.
        #[arg(long, default_value_t = 1e9)]
        rate: f64,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Minimax on tic-tac-toe, counting the positions searched.
    Minimax {
        /// The board, 9 cells of X, O and . row by row (default: empty).
        #[arg(long, default_value = ".........")]
        board: String,
        /// Depth limit (positions that deep are scored by the rule); default: search to the end;
        /// `all` prints a table of every limit from the empty board.
        #[arg(long)]
        depth: Option<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

pub(crate) fn search(cmd: SearchCmd) -> Result<()> {
    match cmd {
        SearchCmd::DeepBlue {
            moves,
            turns,
            rate,
            json,
        } => {
            let cost = deep_blue(moves, turns, rate);
            cost.validate()?;
            if json {
                print_json(&cost.json());
            } else {
                println!("{cost}");
            }
            Ok(())
        }
        SearchCmd::Minimax { board, depth, json } => minimax(&board, depth.as_deref(), json),
    }
}

fn minimax(board: &str, depth: Option<&str>, json: bool) -> Result<()> {
    if depth == Some("all") {
        let (table, results) = depth_table();
        if json {
            print_json(&serde_json::to_value(&results).unwrap_or_default());
        } else {
            print!("{table}");
        }
        return Ok(());
    }
    let limit = depth
        .map(|d| {
            d.parse::<u32>().map_err(|_| {
                Error::param(
                    "depth",
                    format!("'{d}': give a whole number of turns, or all"),
                )
            })
        })
        .transpose()?;
    let board = TicTacToe::parse(board)?;
    let r = board.best_move(limit);
    if json {
        print_json(&serde_json::to_value(r).unwrap_or_default());
    } else {
        print!("{board}");
        let best = r
            .best_move
            .map(|m| format!("cell {m}"))
            .unwrap_or_else(|| "none (game over)".into());
        println!(
            "{} to move: best {best}, score {}, {} positions searched",
            board.to_move(),
            r.score,
            r.nodes
        );
    }
    Ok(())
}
