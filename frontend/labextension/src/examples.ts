/**
 * The read-only examples: "Copy an example to my notebooks" (the command palette, and
 * the Examples item in the status bar) lists them, and one click copies one into the
 * notebooks (the server extension's /aglais/examples/copy, which never overwrites) and
 * opens the copy.
 */
import {
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import {
  Dialog,
  ICommandPalette,
  Notification,
  showDialog
} from '@jupyterlab/apputils';
import { IStatusBar } from '@jupyterlab/statusbar';
import { Widget } from '@lumino/widgets';

import { copyExample, IExample, listExamples } from './api';

export const COPY_COMMAND = 'aglais:copy-example';
export const LIST_COMMAND = 'aglais:examples';
const PLUGIN_ID = 'aglais-hub-lab:examples';

/** The dialog's body: one row per example, each with its Copy button. */
class ExampleList extends Widget {
  constructor(examples: IExample[], onCopy: (path: string) => void) {
    super();
    this.addClass('aglais-examples');
    const list = document.createElement('ul');
    for (const example of examples) {
      const row = document.createElement('li');
      row.className = 'aglais-example';
      row.dataset.path = example.path;
      const name = document.createElement('span');
      name.className = 'aglais-example-name';
      name.textContent = example.path;
      const copy = document.createElement('button');
      copy.type = 'button';
      copy.className = 'aglais-example-copy';
      copy.textContent = 'Copy to my notebooks';
      copy.title = `Copy ${example.path} into your notebooks and open it`;
      copy.addEventListener('click', () => onCopy(example.path));
      row.append(name, copy);
      list.appendChild(row);
    }
    this.node.appendChild(list);
  }
}

async function copy(app: JupyterFrontEnd, path: string): Promise<void> {
  const answer = await copyExample(path);
  if (!answer.ok) {
    await showDialog({
      title: 'The example was not copied',
      body: answer.data.message ?? `The server answered ${answer.status}.`,
      buttons: [Dialog.okButton()]
    });
    return;
  }
  const copied = answer.data;
  Notification.success(`Copied ${path} to your notebooks as ${copied.name}.`, {
    autoClose: 5000
  });
  if (copied.path) {
    await app.commands.execute('docmanager:open', { path: copied.path });
  }
}

async function choose(app: JupyterFrontEnd): Promise<void> {
  const answer = await listExamples();
  const examples = answer.ok ? answer.data.examples : [];
  if (!examples.length) {
    await showDialog({
      title: 'Examples',
      body: answer.ok
        ? 'There are no examples on this server.'
        : answer.data.message ?? `The server answered ${answer.status}.`,
      buttons: [Dialog.okButton()]
    });
    return;
  }
  const dialog = new Dialog({
    title: 'Copy an example to your notebooks',
    body: new ExampleList(examples, path => {
      dialog.resolve();
      void app.commands.execute(COPY_COMMAND, { path });
    }),
    buttons: [Dialog.cancelButton({ label: 'Close' })]
  });
  await dialog.launch();
}

const plugin: JupyterFrontEndPlugin<void> = {
  id: PLUGIN_ID,
  description: 'Copy one of the read-only examples into your notebooks.',
  autoStart: true,
  optional: [ICommandPalette, IStatusBar],
  activate: (
    app: JupyterFrontEnd,
    palette: ICommandPalette | null,
    statusBar: IStatusBar | null
  ) => {
    app.commands.addCommand(COPY_COMMAND, {
      label: args => `Copy the example ${args.path ?? ''} to my notebooks`,
      execute: args => copy(app, String(args.path))
    });
    app.commands.addCommand(LIST_COMMAND, {
      label: 'Copy an example to my notebooks…',
      caption: 'The examples are read-only: copy one to run and change it',
      execute: () => choose(app)
    });
    palette?.addItem({ command: LIST_COMMAND, category: 'Examples' });
    if (statusBar) {
      const item = new Widget({ node: document.createElement('button') });
      item.id = 'aglais-examples-item';
      item.addClass('aglais-examples-item');
      item.node.textContent = 'Examples';
      item.node.title = 'Copy an example to your notebooks';
      item.node.addEventListener('click', () => void app.commands.execute(LIST_COMMAND));
      item.hide();
      statusBar.registerStatusItem(PLUGIN_ID, { item, align: 'left', rank: -9 });
      void app.restored.then(async () => {
        const answer = await listExamples();
        if (answer.ok && answer.data.examples.length) {
          item.show();
        }
      });
    }
  }
};

export default plugin;
