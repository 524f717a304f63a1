// The Plumb extension: starts `plumb lsp` (stdio) with vscode-languageclient.
// Plain JavaScript, so the folder runs as it is after `npm install`.
// @ts-check
'use strict';

const vscode = require('vscode');
const { LanguageClient } = require('vscode-languageclient/node');

/** @type {LanguageClient | undefined} */
let client;

/** @param {vscode.ExtensionContext} context */
function activate(context) {
  const config = vscode.workspace.getConfiguration('plumb');
  const command = config.get('server.path', 'plumb');
  const args = config.get('server.args', ['lsp']);
  /** @type {import('vscode-languageclient/node').ServerOptions} */
  const serverOptions = { run: { command, args }, debug: { command, args } };
  /** @type {import('vscode-languageclient/node').LanguageClientOptions} */
  const clientOptions = {
    documentSelector: [
      { scheme: 'file', language: 'plumb' },
      { scheme: 'untitled', language: 'plumb' },
    ],
    // Imported recipes that are not open are read from disk; tell the server when they change.
    synchronize: { fileEvents: vscode.workspace.createFileSystemWatcher('**/*.plumb') },
  };
  client = new LanguageClient('plumb', 'Plumb', serverOptions, clientOptions);
  context.subscriptions.push(
    vscode.commands.registerCommand('plumb.restartServer', () => client && client.restart()),
  );
  return client.start();
}

function deactivate() {
  return client ? client.stop() : undefined;
}

module.exports = { activate, deactivate };
