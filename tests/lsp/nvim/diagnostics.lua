-- Open a file in headless Neovim, attach the Downstream Sync language server, wait for its
-- diagnostics and write them as JSON. Reads DS_SERVER (JSON argv), DS_FILE, DS_OUT.
local server = vim.fn.json_decode(vim.env.DS_SERVER)
local target = vim.env.DS_FILE
local out = vim.env.DS_OUT

vim.cmd('edit ' .. vim.fn.fnameescape(target))
local bufnr = vim.api.nvim_get_current_buf()
local client_id = vim.lsp.start_client({
  name = 'downstream-sync',
  cmd = server,
  root_dir = vim.fn.fnamemodify(target, ':h'),
})
vim.lsp.buf_attach_client(bufnr, client_id)

local arrived = vim.wait(30000, function()
  return #vim.diagnostic.get(bufnr) > 0
end, 50)

local result = { arrived = arrived, diagnostics = {} }
for _, d in ipairs(vim.diagnostic.get(bufnr)) do
  local lsp_data = (d.user_data or {}).lsp or {}
  table.insert(result.diagnostics, {
    lnum = d.lnum, col = d.col, end_lnum = d.end_lnum, end_col = d.end_col,
    severity = d.severity, source = d.source, message = d.message,
    code = d.code or lsp_data.code,
  })
end
local f = assert(io.open(out, 'w'))
f:write(vim.fn.json_encode(result))
f:close()
vim.lsp.stop_client(client_id)
vim.cmd('qa!')
