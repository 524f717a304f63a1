//! One session with a real editor: headless Neovim starts the server binary with
//! its built-in LSP client, opens a recipe with an error, waits for the
//! diagnostic, fixes the line (incremental sync), waits for it to clear, and asks
//! for a hover. Skipped, loudly, when `nvim` is not installed (`apt-get install
//! neovim`); Neovim 0.7 or newer.

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const INIT: &str = r#"
local bin = os.getenv('PLUMB_LSP_BIN')
local out = os.getenv('PLUMB_OUT')
local log = {}
local function finish()
  vim.fn.writefile(log, out)
  vim.cmd('qa!')
end
vim.cmd('edit ' .. os.getenv('PLUMB_RECIPE'))
local client = vim.lsp.start_client({ name = 'plumb', cmd = { bin }, root_dir = vim.fn.getcwd() })
vim.lsp.buf_attach_client(0, client)
local got = vim.wait(15000, function() return #vim.diagnostic.get(0) > 0 end, 20)
for _, d in ipairs(vim.diagnostic.get(0)) do
  table.insert(log, 'diagnostic ' .. d.lnum .. ' ' .. d.col .. ' ' .. d.message:gsub('\n.*', ''))
end
if not got then table.insert(log, 'no diagnostics'); finish(); return end
-- Fix the unknown name on line 3 (0-based 2): an incremental change.
vim.api.nvim_buf_set_text(0, 2, 8, 2, 12, { 'parts' })
local function unknown_name()
  for _, d in ipairs(vim.diagnostic.get(0)) do
    if d.message:find('cannot find', 1, true) then return true end
  end
  return false
end
local cleared = vim.wait(15000, function() return not unknown_name() end, 20)
table.insert(log, cleared and 'cleared' or 'not cleared')
local params = { textDocument = { uri = vim.uri_from_bufnr(0) }, position = { line = 1, character = 5 } }
local result = vim.lsp.buf_request_sync(0, 'textDocument/hover', params, 10000)
for _, r in pairs(result or {}) do
  if r.result and r.result.contents then
    table.insert(log, 'hover ' .. r.result.contents.value:gsub('\n', ' '))
  end
end
finish()
"#;

const RECIPE: &str = "use std.data.{Pairwise, jsonl, split}\nlet parts = split(jsonl(\"p.jsonl\") as Pairwise, holdout = 0.1)\nreport  nope\n";

#[test]
fn neovim_shows_diagnostics_from_the_server() {
    if Command::new("nvim").arg("--version").stdout(Stdio::null()).status().is_err() {
        eprintln!("SKIPPED neovim_shows_diagnostics_from_the_server: `nvim` is not installed (apt-get install neovim)");
        return;
    }
    let dir = common::temp_dir("nvim");
    let recipe = dir.join("recipe.plumb");
    std::fs::write(&recipe, RECIPE).unwrap();
    std::fs::write(dir.join("init.lua"), INIT).unwrap();
    let out = dir.join("out.txt");
    let mut child = Command::new("nvim")
        .args(["--headless", "-n", "-i", "NONE", "-u"])
        .arg(dir.join("init.lua"))
        .current_dir(&dir)
        .env("PLUMB_LSP_BIN", env!("CARGO_BIN_EXE_plumb-lsp"))
        .env("PLUMB_RECIPE", &recipe)
        .env("PLUMB_OUT", &out)
        .env("XDG_STATE_HOME", dir.join("state"))
        .env("XDG_CACHE_HOME", dir.join("cache"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .spawn()
        .expect("nvim starts");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if child.try_wait().expect("wait").is_some() {
            break;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("nvim did not finish; log so far: {:?}", std::fs::read_to_string(&out));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let log = std::fs::read_to_string(&out).expect("nvim wrote its log");
    assert!(log.contains("diagnostic 2 8 cannot find `nope`"), "{log}");
    assert!(log.contains("cleared"), "{log}");
    assert!(!log.contains("not cleared"), "{log}");
    assert!(log.contains("hover ```plumb let parts: Split[Pairwise]"), "{log}");
}
