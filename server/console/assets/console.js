// ocireg console: pages drawn from the JSON API under /console/api/. No framework; every text
// goes in through textContent (never innerHTML), and the server decides what may be seen or
// changed: hidden buttons are a courtesy, the server refuses anyway.
'use strict';

const state = { session: null, route: '' };
const $ = (id) => document.getElementById(id);

// ---- DOM and formatting ----

function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key === 'class') el.className = value;
    else if (key.startsWith('on')) el.addEventListener(key.slice(2), value);
    else if (key === 'hidden') el.hidden = true;
    else el.setAttribute(key, value === true ? '' : value);
  }
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : String(child));
  }
  return el;
}

function bytes(n) {
  if (n === null || n === undefined) return '';
  const units = ['B', 'KB', 'MB', 'GB', 'TB'];
  let i = 0;
  let v = n;
  while (v >= 1024 && i < units.length - 1) { v /= 1024; i++; }
  return (i === 0 ? v : v.toFixed(v < 10 ? 1 : 0)) + ' ' + units[i];
}

function isoTime(seconds) {
  return new Date(seconds * 1000).toISOString().replace('.000Z', 'Z');
}

function when(seconds) {
  if (!seconds) return h('span', { class: 'muted' }, 'never');
  const ago = Date.now() / 1000 - seconds;
  let text;
  if (ago < 90) text = 'just now';
  else if (ago < 5400) text = Math.round(ago / 60) + ' min ago';
  else if (ago < 129600) text = Math.round(ago / 3600) + ' h ago';
  else if (ago < 86400 * 60) text = Math.round(ago / 86400) + ' days ago';
  else text = isoTime(seconds).slice(0, 10);
  return h('time', { datetime: isoTime(seconds), title: isoTime(seconds) }, text);
}

function duration(seconds) {
  for (const [unit, size] of [['days', 86400], ['h', 3600], ['min', 60]]) {
    if (seconds >= size && seconds % size === 0) return `${seconds / size} ${unit}`;
  }
  return `${seconds} s`;
}

function statusBadge(status) {
  return h('span', { class: 'badge status-' + status.toLowerCase() }, status);
}

function shortDigest(d) {
  const [alg, hex] = d.split(':');
  return alg + ':' + (hex || '').slice(0, 12);
}

function mediaLabel(type) {
  const known = {
    'application/vnd.oci.image.manifest.v1+json': 'OCI image',
    'application/vnd.oci.image.index.v1+json': 'OCI index',
    'application/vnd.docker.distribution.manifest.v2+json': 'Docker image',
    'application/vnd.docker.distribution.manifest.list.v2+json': 'Docker manifest list',
  };
  return known[type] || type;
}

// An image's config type is what the index records as its artifact type when the manifest
// names none: not worth showing.
const IMAGE_CONFIGS = new Set(['application/vnd.oci.image.config.v1+json',
  'application/vnd.docker.container.image.v1+json']);
const artifactType = (img) => (img.artifactType && !IMAGE_CONFIGS.has(img.artifactType) ? img.artifactType : null);

function toast(text) {
  const el = $('toast');
  el.textContent = text;
  el.classList.add('show');
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => el.classList.remove('show'), 2200);
}

function errorBox(err) {
  return h('div', { class: 'error', role: 'alert' }, err.message || String(err));
}

function show(...nodes) {
  $('main').replaceChildren(...nodes.flat(Infinity).filter((n) => n !== null && n !== undefined && n !== false));
}

// ---- the API ----

class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

async function api(path, { method = 'GET', body } = {}) {
  const headers = { Accept: 'application/json' };
  if (method !== 'GET') headers['X-CSRF-Token'] = state.session ? state.session.csrfToken : '';
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  let response;
  try {
    response = await fetch('api/' + path, {
      method, headers, credentials: 'same-origin', cache: 'no-store',
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (e) {
    throw new ApiError(0, 'The registry cannot be reached: ' + e.message);
  }
  let data = null;
  try {
    data = await response.json();
  } catch (e) {
    data = null;
  }
  if (!response.ok) {
    const message = data && data.message ? data.message
      : `The registry answered ${response.status} ${response.statusText}`;
    throw new ApiError(response.status, message);
  }
  return data;
}

const q = (params) => new URLSearchParams(params).toString();

// ---- routes: #/ #/repo/NAME #/image/NAME/DIGEST #/admin #/signin ----

function link(route, text, attrs) {
  return h('a', Object.assign({ href: '#' + route }, attrs || {}), text);
}
const repoRoute = (name) => '/repo/' + encodeURIComponent(name);
const imageRoute = (name, digest) => '/image/' + encodeURIComponent(name) + '/' + encodeURIComponent(digest);

// Every page asks who is looking first: a session that ended meanwhile (signed out elsewhere,
// expired, a new password) shows at once rather than at the next change.
async function route() {
  const hash = location.hash.startsWith('#/') ? location.hash.slice(1) : '/';
  state.route = hash;
  const parts = hash.split('/').map(decodeURIComponent);
  try {
    await loadSession();
  } catch (err) {
    show(h('h1', {}, 'The console cannot start'), errorBox(err));
    return;
  }
  drawHeader();
  const moved = state.drawn;
  state.drawn = true;
  try {
    if (parts[1] === 'repo' && parts[2]) await repositoryPage(parts[2]);
    else if (parts[1] === 'image' && parts[2] && parts[3]) await imagePage(parts[2], parts[3]);
    else if (parts[1] === 'admin') await adminPage();
    else if (parts[1] === 'signin') signInPage();
    else await repositoriesPage();
  } catch (err) {
    const title = err.status === 404 ? 'Not found' : 'This page cannot be shown';
    show(h('h1', {}, title), errorBox(err), h('p', {}, link('/', 'Back to the repositories')));
  }
  // After a navigation, a screen reader starts at the new page, not at the old link.
  if (moved && !document.activeElement.closest('main')) $('main').focus({ preventScroll: true });
}

function go(route) {
  if (location.hash === '#' + route) window.dispatchEvent(new HashChangeEvent('hashchange'));
  else location.hash = '#' + route;
}

// ---- header and session ----

async function loadSession() {
  state.session = await api('session');
}

function drawHeader() {
  const s = state.session;
  const current = (r) => (state.route === r || (r === '/' && state.route.startsWith('/repo')) ? 'page' : null);
  const nav = [link('/', 'Repositories', { 'aria-current': current('/') })];
  if (s && s.admin) nav.push(link('/admin', 'Administration', { 'aria-current': current('/admin') }));
  $('nav').replaceChildren(...nav);
  const who = [];
  if (s && s.user) {
    who.push(h('span', { id: 'signed-in-as' }, 'Signed in as ', h('strong', {}, s.user)));
    who.push(h('button', { type: 'button', id: 'sign-out', onclick: signOut }, 'Sign out'));
  } else if (s && s.authEnabled) {
    who.push(link('/signin', 'Sign in', { id: 'sign-in-link' }));
  } else if (s) {
    who.push(h('span', { class: 'badge', title: 'This registry has no users: everyone may do everything' }, 'open registry'));
  }
  $('who').replaceChildren(...who);
}

async function signOut() {
  try {
    await api('session', { method: 'DELETE' });
    toast('Signed out');
  } catch (err) {
    toast(err.message);
  }
  go('/');
}

function signInPage() {
  const s = state.session;
  if (s && !s.authEnabled) {
    show(h('h1', {}, 'Sign in'), h('p', { class: 'notice' }, 'This registry has no users: the console is open without signing in.'),
      link('/', 'Go to the repositories'));
    return;
  }
  const message = h('div', { id: 'sign-in-error' });
  const user = h('input', { type: 'text', id: 'username', name: 'username', autocomplete: 'username', required: true });
  const pass = h('input', { type: 'password', id: 'password', name: 'password', autocomplete: 'current-password', required: true });
  const button = h('button', { type: 'submit', class: 'primary', id: 'sign-in' }, 'Sign in');
  const form = h('form', { class: 'signin', novalidate: true },
    h('div', { class: 'field' }, h('label', { for: 'username' }, 'User name'), user),
    h('div', { class: 'field' }, h('label', { for: 'password' }, 'Password'), pass),
    button, message);
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    message.replaceChildren();
    if (!user.value || !pass.value) {
      message.replaceChildren(errorBox(new Error('Enter your user name and password.')));
      return;
    }
    button.disabled = true;
    try {
      state.session = await api('session', { method: 'POST', body: { username: user.value, password: pass.value } });
      toast('Signed in as ' + state.session.user);
      go('/');
    } catch (err) {
      message.replaceChildren(errorBox(err));
      pass.value = '';
      pass.focus();
    } finally {
      button.disabled = false;
    }
  });
  const notes = [];
  if (s && s.sessionEnded) notes.push(h('p', { class: 'notice' }, 'Your session has ended: sign in again.'));
  show(h('h1', {}, 'Sign in'), ...notes,
    h('p', { class: 'muted' }, 'With the user name and password of the registry (the same as docker login).'), form);
  user.focus();
}

// ---- repositories ----

async function repositoriesPage() {
  const s = state.session;
  const search = h('input', { type: 'search', id: 'repo-search', placeholder: 'e.g. team-a/', autocomplete: 'off', spellcheck: 'false' });
  const list = h('div', { id: 'repo-list', 'aria-live': 'polite' });
  const notes = [];
  if (s.sessionEnded && !s.user) notes.push(h('p', { class: 'notice' }, 'Your session has ended. ', link('/signin', 'Sign in again'), ' to see more.'));
  else if (s.authEnabled && !s.user) notes.push(h('p', { class: 'notice', id: 'anonymous-note' }, 'You are not signed in: only public repositories are shown. ', link('/signin', 'Sign in'), ' to see more.'));
  show(h('h1', {}, 'Repositories'), ...notes,
    h('div', { class: 'toolbar', role: 'search' },
      h('div', { class: 'field' }, h('label', { for: 'repo-search' }, 'Filter by name prefix'), search)),
    list);
  let generation = 0;
  const load = async () => {
    const mine = ++generation;
    const prefix = search.value.trim().toLowerCase();
    try {
      await drawRepositories(list, prefix, null, () => mine === generation);
    } catch (err) {
      if (mine === generation) list.replaceChildren(errorBox(err));
    }
  };
  let timer = null;
  search.addEventListener('input', () => { clearTimeout(timer); timer = setTimeout(load, 150); });
  await load();
}

async function drawRepositories(container, prefix, after, current, table) {
  const data = await api('repositories?' + q(Object.assign({ prefix, limit: 50 }, after ? { after } : {})));
  if (!current()) return;
  let body = table ? table.querySelector('tbody') : null;
  if (!table) {
    if (!data.repositories.length && !data.next) {
      container.replaceChildren(h('p', { class: 'muted', id: 'no-repos' }, prefix ? `No repository starts with "${prefix}".` : 'No repositories to show.'));
      return;
    }
    body = h('tbody');
    table = h('table', { id: 'repos' },
      h('caption', { class: 'skip' }, 'Repositories'),
      h('thead', {}, h('tr', {},
        h('th', { scope: 'col' }, 'Name'),
        h('th', { scope: 'col', class: 'num' }, 'Images'),
        h('th', { scope: 'col', class: 'num' }, 'Size'),
        h('th', { scope: 'col', class: 'hide-narrow' }, 'Last push'),
        h('th', { scope: 'col', class: 'hide-narrow' }, 'Tag mutability'))),
      body);
    container.replaceChildren(h('div', { class: 'table-wrap' }, table));
  }
  for (const r of data.repositories) {
    body.append(h('tr', {},
      h('td', {}, link(repoRoute(r.name), r.name, { class: 'repo-link' })),
      h('td', { class: 'num' }, r.imageCount),
      h('td', { class: 'num' }, bytes(r.sizeBytes)),
      h('td', { class: 'hide-narrow nowrap' }, when(r.lastPushedAt)),
      h('td', { class: 'hide-narrow' }, r.mutability === 'IMMUTABLE' ? h('span', { class: 'badge' }, 'immutable') : h('span', { class: 'muted' }, 'mutable'))));
  }
  // User Timing: how long the list took from navigation (read by the tests and by anyone
  // in the browser's performance panel).
  if (!after) performance.mark('repositories-rendered');
  const old = container.querySelector('.more');
  if (old) old.remove();
  if (data.next) {
    const more = h('button', { type: 'button', class: 'more', id: 'more-repos' }, 'Show more');
    more.addEventListener('click', async () => {
      more.disabled = true;
      try {
        await drawRepositories(container, prefix, data.next, current, table);
      } catch (err) {
        more.replaceWith(errorBox(err));
      }
    });
    container.append(h('p', { class: 'more' }, more));
  }
}

// ---- one repository ----

function pullCommands(repo, ref) {
  const host = state.session.registry;
  const plain = location.protocol === 'http:';
  const name = `${host}/${repo}${ref.startsWith('sha256:') || ref.startsWith('sha512:') ? '@' : ':'}${ref}`;
  const tls = plain ? ' --tls-verify=false' : '';
  const commands = [
    ['docker', `docker pull ${name}`],
    ['podman', `podman pull${tls} ${name}`],
    ['skopeo', `skopeo copy${plain ? ' --src-tls-verify=false' : ''} docker://${name} oci:${repo.split('/').pop()}`],
  ];
  return h('div', { id: 'pull-commands' }, commands.map(([tool, text]) => {
    const code = h('code', { id: 'pull-' + tool }, text);
    return h('div', { class: 'pull' }, h('span', { class: 'tool' }, tool), code,
      h('button', { type: 'button', class: 'small copy', 'aria-label': `Copy the ${tool} command`, onclick: () => copy(text) }, 'Copy'));
  }));
}

async function copy(text) {
  try {
    await navigator.clipboard.writeText(text);
  } catch (e) {
    const area = h('textarea', { class: 'skip', 'aria-hidden': 'true' });
    area.value = text;
    document.body.append(area);
    area.select();
    document.execCommand('copy');
    area.remove();
  }
  toast('Copied');
}

function confirmDelete(title, lines, button) {
  const dialog = $('confirm');
  $('confirm-title').textContent = title;
  $('confirm-body').replaceChildren(...lines.map((l) => (l instanceof Node ? l : h('p', {}, l))));
  $('confirm-ok').textContent = button || 'Delete';
  return new Promise((resolve) => {
    const done = (answer) => {
      $('confirm-ok').removeEventListener('click', ok);
      $('confirm-cancel').removeEventListener('click', cancel);
      dialog.removeEventListener('cancel', cancel);
      if (dialog.open) dialog.close();
      resolve(answer);
    };
    const ok = () => done(true);
    const cancel = () => done(false);
    $('confirm-ok').addEventListener('click', ok);
    $('confirm-cancel').addEventListener('click', cancel);
    dialog.addEventListener('cancel', cancel);
    dialog.showModal();
    $('confirm-cancel').focus();
  });
}

// What goes with a tag: the image, when this was its last tag and no index lists it.
function tagConsequences(image, tag) {
  const count = image.tagCount === undefined ? image.tags.length : image.tagCount;
  const known = image.tags.filter((t) => t !== tag);
  if (count > 1) {
    const more = count - 1 - known.length;
    return [`The image ${shortDigest(image.digest)} stays: it is still tagged ${known.join(', ')}${more > 0 ? `${known.length ? ' and ' : ''}${more} more` : ''}.`];
  }
  if (image.child) return [`The image ${shortDigest(image.digest)} stays untagged: an image index lists it.`];
  return [`This is the last tag of ${shortDigest(image.digest)}: the image is deleted with it, and its layers are freed by the next garbage collection unless other images use them.`];
}

async function deleteTag(repo, image, tag, after) {
  const ok = await confirmDelete(`Delete tag ${tag}?`, [
    `The tag ${repo}:${tag} is removed.`, ...tagConsequences(image, tag)], 'Delete tag');
  if (!ok) return;
  try {
    const out = await api('tag?' + q({ repo, tag }), { method: 'DELETE' });
    toast(out.imageDeleted ? `Deleted ${tag} and its image` : `Deleted ${tag}`);
    after();
  } catch (err) {
    showError(err);
  }
}

async function deleteImage(repo, image, referrers, after) {
  const lines = [`The image ${image.digest} is deleted from ${repo}.`];
  const count = image.tagCount === undefined ? image.tags.length : image.tagCount;
  if (count) lines.push(`Its tags go with it: ${image.tags.join(', ')}${count > image.tags.length ? ` and ${count - image.tags.length} more` : ''}.`);
  if (referrers) lines.push(`${referrers} referrer(s) (signatures, SBOMs) of it are left without a subject and are removed by the next garbage collection.`);
  lines.push('Layers no other image uses are freed by the next garbage collection.');
  const ok = await confirmDelete('Delete this image?', lines, 'Delete image');
  if (!ok) return;
  try {
    await api('image?' + q({ repo, digest: image.digest }), { method: 'DELETE' });
    toast('Image deleted');
    after();
  } catch (err) {
    showError(err);
  }
}

function showError(err) {
  const box = errorBox(err);
  $('main').prepend(box);
  box.scrollIntoView({ block: 'nearest' });
  toast(err.message);
}

// Tags in a repository from which its page offers a tag search (rows list only a few each).
const TAG_SEARCH_FROM = 10;

// Sorts the server pages by (key, digest); the default order of each.
const SORTS = { digest: 'asc', size: 'desc', pushed: 'desc', pulled: 'desc' };

// The tags of an image row: the few the page lists, each with its delete button when the
// viewer may delete, and a link to the image's page when it has more.
function tagCell(name, img, canDelete, reload) {
  if (!img.tags.length) return h('span', { class: 'muted' }, img.subject ? 'referrer' : img.child ? 'in an index' : 'untagged');
  const more = img.tagCount - img.tags.length;
  return [img.tags.map((t) => h('span', { class: 'tag' }, t,
    canDelete ? h('button', { type: 'button', class: 'link small delete-tag', 'aria-label': `Delete tag ${t}`, title: `Delete tag ${t}`, onclick: () => deleteTag(name, img, t, reload) }, '\u00d7') : null)),
  more > 0 ? link(imageRoute(name, img.digest), `+${more} more`, { class: 'more-tags', 'aria-label': `${more} more tags of ${shortDigest(img.digest)}` }) : null];
}

// One page of the repository's images, asked of the server; Previous and Next walk the pages
// by the cursors the server gave.
function imagePager(name, repo, first, tableBox, reload) {
  const view = { sort: 'pushed', order: 'desc', all: false, cursors: [null], page: first };
  let generation = 0;
  const fetchPage = async (focusId) => {
    const mine = ++generation;
    const cursor = view.cursors[view.cursors.length - 1];
    const params = { repo: name, sort: view.sort, order: view.order };
    if (view.all) params.all = 1;
    if (cursor) params.cursor = cursor;
    try {
      const page = await api('images?' + q(params));
      if (mine !== generation) return;
      view.page = page;
      draw();
      if (focusId && $(focusId)) $(focusId).focus();
    } catch (err) {
      if (mine === generation) tableBox.replaceChildren(errorBox(err));
    }
  };
  const header = (id, text, cls) => {
    if (!SORTS[id]) return h('th', { scope: 'col', class: cls }, text);
    const sorted = view.sort === id;
    return h('th', { scope: 'col', class: cls, 'aria-sort': sorted ? (view.order === 'desc' ? 'descending' : 'ascending') : null },
      h('button', { type: 'button', id: 'sort-' + id, onclick: () => {
        view.order = sorted ? (view.order === 'desc' ? 'asc' : 'desc') : SORTS[id];
        view.sort = id;
        view.cursors = [null];
        fetchPage('sort-' + id);
      } }, text, sorted ? (view.order === 'desc' ? ' \u25be' : ' \u25b4') : ''));
  };
  const pager = () => {
    const at = view.cursors.length;
    const prev = h('button', { type: 'button', id: 'images-prev', disabled: at === 1, onclick: () => { view.cursors.pop(); fetchPage('images-prev'); } }, '\u2190 Previous');
    const next = h('button', { type: 'button', id: 'images-next', disabled: !view.page.next, onclick: () => { view.cursors.push(view.page.next); fetchPage('images-next'); } }, 'Next \u2192');
    return h('nav', { class: 'pager', 'aria-label': 'Pages of images' }, prev, h('span', { id: 'images-page', 'aria-live': 'polite' }, `Page ${at}`), next);
  };
  const draw = () => {
    const shown = view.page.images;
    const rows = shown.map((img) => h('tr', { 'data-digest': img.digest, 'data-size': img.sizeBytes },
      h('td', {}, tagCell(name, img, repo.can.deleteImage, reload)),
      h('td', { class: 'mono' }, link(imageRoute(name, img.digest), shortDigest(img.digest), { class: 'image-link' })),
      h('td', { class: 'num' }, bytes(img.sizeBytes)),
      h('td', { class: 'nowrap' }, when(img.pushedAt)),
      h('td', { class: 'nowrap hide-narrow' }, when(img.lastPulledAt)),
      h('td', { class: 'hide-narrow' }, artifactType(img) || mediaLabel(img.mediaType),
        img.platforms && img.platforms.length ? h('div', { class: 'muted' }, img.platforms.join(', ')) : null)));
    tableBox.replaceChildren(
      shown.length ? h('div', { class: 'table-wrap' }, h('table', { id: 'image-table' },
        h('thead', {}, h('tr', {}, header('tags', 'Tags'), header('digest', 'Digest'), header('size', 'Size', 'num'),
          header('pushed', 'Pushed'), header('pulled', 'Last pulled', 'hide-narrow'), header('type', 'Type', 'hide-narrow'))),
        h('tbody', {}, rows))) : h('p', { class: 'muted' }, 'No images.'),
      view.page.next || view.cursors.length > 1 ? pager() : null);
  };
  return { draw, showAll: (all) => { view.all = all; view.cursors = [null]; fetchPage(); } };
}

// Tags of the repository by name prefix, a page at a time (the server searches).
function tagSearch(name, repo, box, reload) {
  const input = h('input', { type: 'search', id: 'tag-search', placeholder: 'e.g. v1.', autocomplete: 'off', spellcheck: 'false' });
  const results = h('div', { id: 'tag-results', 'aria-live': 'polite' });
  let generation = 0;
  const drawPage = async (prefix, after, body) => {
    const mine = generation;
    const data = await api('tags?' + q(Object.assign({ repo: name, prefix }, after ? { after } : {})));
    if (mine !== generation) return;
    if (!body) {
      if (!data.tags.length) {
        results.replaceChildren(h('p', { class: 'muted', id: 'no-tags' }, `No tag starts with "${prefix}".`));
        return;
      }
      body = h('tbody');
      results.replaceChildren(h('div', { class: 'table-wrap' }, h('table', { id: 'tag-table' },
        h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Tag'), h('th', { scope: 'col' }, 'Digest'),
          h('th', { scope: 'col', class: 'num' }, 'Size'), h('th', { scope: 'col', class: 'hide-narrow' }, 'Pushed'))),
        body)));
    }
    for (const t of data.tags) {
      const img = { digest: t.digest, tags: [t.tag], tagCount: t.tagCount, child: t.child };
      body.append(h('tr', { 'data-tag': t.tag },
        h('td', {}, h('span', { class: 'tag' }, t.tag, repo.can.deleteImage ? h('button', { type: 'button', class: 'link small delete-tag', 'aria-label': `Delete tag ${t.tag}`, title: `Delete tag ${t.tag}`, onclick: () => deleteTag(name, img, t.tag, reload) }, '\u00d7') : null)),
        h('td', { class: 'mono' }, link(imageRoute(name, t.digest), shortDigest(t.digest), { class: 'image-link' })),
        h('td', { class: 'num' }, bytes(t.sizeBytes)),
        h('td', { class: 'nowrap hide-narrow' }, when(t.pushedAt))));
    }
    const old = results.querySelector('.more');
    if (old) old.remove();
    if (data.next) {
      const more = h('button', { type: 'button', id: 'more-tags' }, 'Show more tags');
      more.addEventListener('click', async () => {
        more.disabled = true;
        try {
          await drawPage(prefix, data.next, body);
        } catch (err) {
          more.replaceWith(errorBox(err));
        }
      });
      results.append(h('p', { class: 'more' }, more));
    }
  };
  let timer = null;
  input.addEventListener('input', () => {
    clearTimeout(timer);
    timer = setTimeout(async () => {
      const mine = ++generation;
      const prefix = input.value.trim();
      box.hidden = !!prefix;
      if (!prefix) {
        results.replaceChildren();
        return;
      }
      try {
        await drawPage(prefix, null, null);
      } catch (err) {
        if (mine === generation) results.replaceChildren(errorBox(err));
      }
    }, 150);
  });
  return [h('div', { class: 'toolbar', role: 'search' },
    h('div', { class: 'field' }, h('label', { for: 'tag-search' }, 'Find tags by name prefix'), input)), results];
}

async function repositoryPage(name) {
  const [repo, first] = await Promise.all([
    api('repository?' + q({ name })),
    api('images?' + q({ repo: name })),
  ]);
  const images = first.images;
  const tableBox = h('div', { id: 'images' });
  const tagged = images.find((i) => i.tags.length);
  const ref = tagged ? tagged.tags[0] : (images[0] ? images[0].digest : 'latest');
  const reload = () => repositoryPage(name);
  const pager = imagePager(name, repo, first, tableBox, reload);

  const toggle = h('input', { type: 'checkbox', id: 'show-all' });
  toggle.addEventListener('change', () => pager.showAll(toggle.checked));

  const lifecycle = h('div', { id: 'lifecycle' });
  const facts = h('dl', { class: 'facts' },
    h('dt', {}, 'Images'), h('dd', {}, `${repo.imageCount} (${repo.tagCount} tags)`),
    h('dt', {}, 'Size'), h('dd', {}, bytes(repo.sizeBytes)),
    h('dt', {}, 'Last push'), h('dd', {}, when(repo.lastPushedAt)),
    h('dt', {}, 'Tag mutability'), h('dd', { id: 'mutability' }, repo.mutability === 'IMMUTABLE' ? 'immutable: a tag, once pushed, never moves' : 'mutable'),
    h('dt', {}, 'Created'), h('dd', {}, when(repo.createdAt)));
  const danger = repo.can.deleteRepository ? h('section', {},
    h('h2', {}, 'Delete the repository'),
    h('button', { type: 'button', class: 'danger', id: 'delete-repo', onclick: async () => {
      const ok = await confirmDelete(`Delete repository ${name}?`, [
        `Everything in ${name} goes: ${repo.imageCount} image(s) and ${repo.tagCount} tag(s)` + (repo.hasLifecyclePolicy ? ', and its lifecycle policy.' : '.'),
        'Blobs no other repository uses are freed by the next garbage collection. This cannot be undone.'], 'Delete repository');
      if (!ok) return;
      try {
        await api('repository?' + q({ name }), { method: 'DELETE' });
        toast(`Deleted ${name}`);
        go('/');
      } catch (err) {
        showError(err);
      }
    } }, 'Delete repository\u2026')) : null;

  show(h('p', { class: 'crumbs' }, link('/', 'Repositories'), ' / '),
    h('h1', {}, name),
    h('div', { class: 'grid2' },
      h('section', {}, h('h2', {}, 'Summary'), facts),
      h('section', {}, h('h2', {}, 'Pull'), pullCommands(name, ref))),
    h('h2', {}, 'Images'),
    repo.tagCount > TAG_SEARCH_FROM ? tagSearch(name, repo, tableBox, reload) : null,
    h('p', {}, h('label', { for: 'show-all' }, toggle, ' Show index children and referrers')),
    tableBox,
    h('h2', {}, 'Lifecycle policy'), lifecycle,
    danger);
  pager.draw();
  drawLifecycle(lifecycle, name, repo.lifecyclePolicy);
}

const POLICY_TEMPLATE = {
  rules: [{
    rulePriority: 1,
    description: 'expire untagged images after 14 days',
    selection: { tagStatus: 'untagged', countType: 'sinceImagePushed', countUnit: 'days', countNumber: 14 },
    action: { type: 'expire' },
  }],
};

function previewTable(name, out) {
  if (!out.expiring.length) return h('p', { class: 'preview-none' }, 'Nothing would expire now.');
  return [h('p', {}, `${out.expiring.length} image(s) would expire now:`),
    h('div', { class: 'table-wrap' }, h('table', { class: 'preview-table' },
      h('thead', {}, h('tr', {}, h('th', {}, 'Image'), h('th', {}, 'Tags'), h('th', {}, 'Pushed'), h('th', { class: 'num' }, 'Rule'))),
      h('tbody', {}, out.expiring.map((e) => h('tr', {},
        h('td', { class: 'mono' }, link(imageRoute(name, e.digest), shortDigest(e.digest))),
        h('td', {}, e.tags.length ? e.tags.join(', ') : h('span', { class: 'muted' }, 'untagged')),
        h('td', {}, when(e.pushedAt)),
        h('td', { class: 'num' }, e.rule))))))];
}

// Runs one preview into `result`, with `button` disabled meanwhile.
async function runPreview(button, result, name, fetchPreview) {
  button.disabled = true;
  try {
    const out = await fetchPreview();
    result.replaceChildren(...[out.error ? errorBox(new Error('The policy is invalid: ' + out.error)) : previewTable(name, out)].flat());
  } catch (err) {
    result.replaceChildren(errorBox(err));
  } finally {
    button.disabled = false;
  }
}

function drawLifecycle(box, name, policy) {
  let pretty = policy;
  try { pretty = JSON.stringify(JSON.parse(policy), null, 2); } catch (e) { /* shown as stored */ }
  const parts = [];
  if (policy) {
    const result = h('div', { id: 'preview-result', 'aria-live': 'polite' });
    const button = h('button', { type: 'button', id: 'preview' }, 'Preview what it would expire');
    button.addEventListener('click', () => runPreview(button, result, name, () => api('lifecycle?' + q({ name }))));
    parts.push(h('details', {}, h('summary', {}, 'Policy text'), h('pre', { id: 'policy-text' }, pretty)), button, result);
  } else {
    parts.push(h('p', { class: 'muted' }, 'No lifecycle policy: images are kept until deleted. (Set one with aws ecr put-lifecycle-policy or ocireg lifecycle put.)'));
  }
  const draft = h('textarea', { id: 'draft-policy', rows: 12, spellcheck: 'false', class: 'mono' });
  draft.value = policy ? pretty : JSON.stringify(POLICY_TEMPLATE, null, 2);
  const draftResult = h('div', { id: 'draft-result', 'aria-live': 'polite' });
  const draftButton = h('button', { type: 'button', id: 'preview-draft' }, 'Preview the draft');
  draftButton.addEventListener('click', () => runPreview(draftButton, draftResult, name,
    () => api('lifecycle?' + q({ name }), { method: 'POST', body: { policy: draft.value } })));
  parts.push(h('details', { id: 'draft' }, h('summary', {}, 'Try a draft policy (nothing is saved)'),
    h('div', { class: 'field wide' }, h('label', { for: 'draft-policy' }, 'Policy (ECR lifecycle JSON)'), draft),
    draftButton, draftResult));
  box.replaceChildren(...parts);
}

// ---- one image ----

function configFacts(config) {
  const c = config.config || {};
  const rows = [
    ['Platform', [config.os, config.architecture, config.variant].filter(Boolean).join('/')],
    ['Created', config.created || ''],
    ['Entrypoint', c.Entrypoint ? JSON.stringify(c.Entrypoint) : ''],
    ['Command', c.Cmd ? JSON.stringify(c.Cmd) : ''],
    ['Working dir', c.WorkingDir || ''],
    ['User', c.User || ''],
    ['Ports', c.ExposedPorts ? Object.keys(c.ExposedPorts).join(', ') : ''],
  ].filter(([, v]) => v);
  const parts = [h('dl', { class: 'facts', id: 'config-facts' }, rows.map(([k, v]) => [h('dt', {}, k), h('dd', { class: k === 'Platform' ? '' : 'mono' }, v)]))];
  if (c.Env && c.Env.length) {
    parts.push(h('h3', {}, 'Environment'), h('pre', { id: 'config-env' }, c.Env.join('\n')));
  }
  const labels = c.Labels ? Object.entries(c.Labels) : [];
  if (labels.length) {
    parts.push(h('h3', {}, 'Labels'), h('div', { class: 'table-wrap' }, h('table', { id: 'config-labels' },
      h('tbody', {}, labels.map(([k, v]) => h('tr', {}, h('td', { class: 'mono' }, k), h('td', {}, v)))))));
  }
  if (config.history && config.history.length) {
    parts.push(h('h3', {}, 'History'), h('div', { class: 'table-wrap' }, h('table', { id: 'config-history' },
      h('thead', {}, h('tr', {}, h('th', {}, 'Created'), h('th', {}, 'Created by'))),
      h('tbody', {}, config.history.map((step) => h('tr', {},
        h('td', { class: 'nowrap' }, step.created ? step.created.slice(0, 19).replace('T', ' ') : ''),
        h('td', { class: 'mono' }, step.created_by || '', step.empty_layer ? h('span', { class: 'badge' }, 'no layer') : null)))))));
  }
  return parts;
}

function layersTable(manifest) {
  const layers = manifest.layers || [];
  if (!layers.length) return h('p', { class: 'muted' }, 'No layers.');
  const total = layers.reduce((sum, l) => sum + (l.size || 0), 0);
  return h('div', { class: 'table-wrap' }, h('table', { id: 'layers' },
    h('thead', {}, h('tr', {}, h('th', { class: 'num' }, '#'), h('th', {}, 'Digest'), h('th', { class: 'hide-narrow' }, 'Media type'), h('th', { class: 'num' }, 'Size'))),
    h('tbody', {}, layers.map((l, i) => h('tr', {},
      h('td', { class: 'num' }, i + 1), h('td', { class: 'mono' }, shortDigest(l.digest || '')),
      h('td', { class: 'hide-narrow' }, l.mediaType || ''), h('td', { class: 'num' }, bytes(l.size))))),
    h('tfoot', {}, h('tr', {}, h('td', {}), h('td', {}, 'Total'), h('td', { class: 'hide-narrow' }), h('td', { class: 'num' }, bytes(total))))));
}

function referrersSection(name, referrers) {
  if (!referrers.length) return h('p', { class: 'muted', id: 'no-referrers' }, 'No referrers (signatures, SBOMs, attestations) point at this image.');
  const groups = new Map();
  for (const r of referrers) {
    const type = r.artifactType || r.mediaType;
    if (!groups.has(type)) groups.set(type, []);
    groups.get(type).push(r);
  }
  return h('div', { id: 'referrers' }, [...groups].map(([type, list]) => h('section', {},
    h('h3', { class: 'mono' }, `${type} (${list.length})`),
    h('ul', {}, list.map((r) => h('li', {}, link(imageRoute(name, r.digest), shortDigest(r.digest), { class: 'referrer-link mono' }),
      ' ', h('span', { class: 'muted' }, bytes(r.size)),
      r.annotations && r.annotations['org.opencontainers.image.created'] ? [' \u00b7 ', r.annotations['org.opencontainers.image.created']] : null))))));
}

// Shown to administrators only (the server sends these parts to them alone).
function replicationStatus(statuses) {
  if (!statuses.length) return h('p', { class: 'muted', id: 'replication-status' }, 'No replication rule has sent this image anywhere.');
  return h('div', { class: 'table-wrap' }, h('table', { id: 'replication-status' },
    h('thead', {}, h('tr', {}, h('th', {}, 'Destination'), h('th', {}, 'Status'), h('th', {}, 'Updated'), h('th', {}, 'Reason'))),
    h('tbody', {}, statuses.map((s) => h('tr', {},
      h('td', { class: 'mono' }, `${s.region} / ${s.registryId}`), h('td', {}, statusBadge(s.status)),
      h('td', { class: 'nowrap' }, when(s.updatedAt)), h('td', {}, s.reason || ''))))));
}

function cacheFacts(c) {
  return h('dl', { class: 'facts', id: 'cache-facts' },
    h('dt', {}, 'Cache rule'), h('dd', { class: 'mono' }, c.rule),
    h('dt', {}, 'Upstream'), h('dd', { class: 'mono' }, c.upstreamUrl + (c.upstreamPrefix ? ' / ' + c.upstreamPrefix : '')),
    h('dt', {}, 'Tags served for'), h('dd', {}, duration(c.ttlSeconds) + ' before the upstream is asked again'),
    c.tagChecks.map((t) => [h('dt', {}, `Tag ${t.tag} checked`), h('dd', {}, when(t.checkedAt))]));
}

async function imagePage(name, ref) {
  const byDigest = /^sha(256|512):/.test(ref);
  const img = await api('image?' + q(byDigest ? { repo: name, digest: ref } : { repo: name, tag: ref }));
  const manifest = img.manifest;
  const parts = [
    h('p', { class: 'crumbs' }, link('/', 'Repositories'), ' / ', link(repoRoute(name), name), ' /'),
    h('h1', { class: 'mono' }, img.digest),
    h('dl', { class: 'facts', id: 'image-facts' },
      h('dt', {}, 'Tags'), h('dd', { id: 'image-tags' }, img.tags.length ? img.tags.map((t) => h('span', { class: 'tag' }, t,
        img.deletable ? h('button', { type: 'button', class: 'link small delete-tag', 'aria-label': `Delete tag ${t}`, onclick: () => deleteTag(name, img, t, () => go(repoRoute(name))) }, '\u00d7') : null)) : h('span', { class: 'muted' }, 'none'),
        img.tagCount > img.tags.length ? h('span', { class: 'muted', id: 'more-image-tags' }, ` and ${img.tagCount - img.tags.length} more (find them with the tag search of the repository's page)`) : null),
      h('dt', {}, 'Type'), h('dd', {}, mediaLabel(img.mediaType)),
      artifactType(img) ? [h('dt', {}, 'Artifact type'), h('dd', { class: 'mono' }, artifactType(img))] : null,
      img.subject ? [h('dt', {}, 'Refers to'), h('dd', {}, link(imageRoute(name, img.subject), img.subject, { class: 'mono' }))] : null,
      h('dt', {}, 'Size'), h('dd', {}, bytes(img.sizeBytes)),
      h('dt', {}, 'Pushed'), h('dd', {}, when(img.pushedAt)),
      h('dt', {}, 'Last pulled'), h('dd', {}, when(img.lastPulledAt))),
    h('h2', {}, 'Pull'), pullCommands(name, img.tags[0] || img.digest),
  ];
  if (img.children) {
    parts.push(h('h2', {}, 'Platforms'), h('div', { class: 'table-wrap' }, h('table', { id: 'children' },
      h('thead', {}, h('tr', {}, h('th', {}, 'Platform'), h('th', {}, 'Manifest'))),
      h('tbody', {}, img.children.map((c) => h('tr', {},
        h('td', {}, c.platform || h('span', { class: 'muted' }, 'unknown')),
        h('td', { class: 'mono' }, c.present ? link(imageRoute(name, c.digest), shortDigest(c.digest), { class: 'child-link' }) : [shortDigest(c.digest), ' ', h('span', { class: 'badge' }, 'not in this repository')])))))));
  }
  if (img.replication) parts.push(h('h2', {}, 'Replication'), replicationStatus(img.replication));
  if (img.cache) parts.push(h('h2', {}, 'Pull-through cache'), cacheFacts(img.cache));
  if (img.operationsNote) parts.push(h('p', { class: 'muted' }, img.operationsNote));
  if (img.config) parts.push(h('h2', {}, 'Configuration'), ...configFacts(img.config));
  else if (img.configNote) parts.push(h('h2', {}, 'Configuration'), h('p', { class: 'muted' }, img.configNote));
  if (!img.children) parts.push(h('h2', {}, 'Layers'), layersTable(manifest));
  parts.push(h('h2', {}, 'Referrers'), referrersSection(name, img.referrers));
  parts.push(h('h2', {}, 'Raw JSON'),
    h('details', { id: 'raw-manifest' }, h('summary', {}, 'Manifest'), h('pre', {}, JSON.stringify(manifest, null, 2))),
    img.config ? h('details', { id: 'raw-config' }, h('summary', {}, 'Config'), h('pre', {}, JSON.stringify(img.config, null, 2))) : null);
  if (img.deletable) {
    parts.push(h('h2', {}, 'Delete'), h('button', { type: 'button', class: 'danger', id: 'delete-image',
      onclick: () => deleteImage(name, img, img.referrers.length, () => go(repoRoute(name))) }, 'Delete image\u2026'));
  }
  show(...parts);
}

// ---- administration ----

function outboxFacts(o) {
  return h('dl', { class: 'facts', id: 'outbox' },
    h('dt', {}, 'Waiting'), h('dd', {}, o.pending ? `${o.pending} event(s)` : h('span', { class: 'muted' }, 'none')),
    h('dt', {}, 'Oldest waiting'), h('dd', {}, o.pending ? when(o.oldestAt) : h('span', { class: 'muted' }, 'none')),
    h('dt', {}, 'Parked'), h('dd', { id: 'outbox-parked' }, o.parked ? `${o.parked} event(s) no longer retried` : h('span', { class: 'muted' }, 'none')));
}

async function redeliver(button, webhook, id) {
  button.disabled = true;
  try {
    const out = await api('redeliver', { method: 'POST', body: id === undefined ? { webhook } : { webhook, id } });
    toast(`${out.redelivered} event(s) queued again`);
    await adminPage();
  } catch (e) {
    button.disabled = false;
    showError(e);
  }
}

function deliveryRow(w, d) {
  const again = d.state === 'parked'
    ? h('button', { type: 'button', class: 'small redeliver', 'aria-label': `Redeliver event ${d.id} to ${w.name}`, onclick: (e) => redeliver(e.currentTarget, w.name, d.id) }, 'Redeliver')
    : null;
  return h('tr', {},
    h('td', { class: 'num' }, d.id), h('td', {}, d.repository),
    h('td', {}, d.state === 'done' ? 'delivered' : d.state, again ? [' ', again] : null), h('td', { class: 'num' }, d.attempts),
    h('td', { class: 'nowrap' }, when(d.updatedAt)), h('td', { class: 'hide-narrow' }, d.error || ''));
}

function webhooksSection(a) {
  if (!a.webhooks.length) return h('p', { class: 'muted' }, 'No webhooks (ocireg webhook add).');
  return h('div', { id: 'webhooks' }, a.webhooks.map((w) => h('section', {},
    h('h3', {}, w.name, ' ', h('span', { class: 'muted' }, `\u2192 ${w.target}`)),
    h('p', { class: 'muted' }, `Events: ${w.events}` + (w.repositoryPrefix ? `; repositories starting with ${w.repositoryPrefix}` : '')),
    w.deliveries.length ? h('div', { class: 'table-wrap' }, h('table', { class: 'deliveries' },
      h('thead', {}, h('tr', {}, h('th', { class: 'num' }, 'Id'), h('th', {}, 'Repository'), h('th', {}, 'State'),
        h('th', { class: 'num' }, 'Attempts'), h('th', {}, 'Last attempt'), h('th', { class: 'hide-narrow' }, 'Error'))),
      h('tbody', {}, w.deliveries.map((d) => deliveryRow(w, d))))) :
      h('p', { class: 'muted' }, 'No deliveries yet.'),
    w.deliveries.some((d) => d.state === 'parked')
      ? h('p', {}, h('button', { type: 'button', class: 'redeliver-all', onclick: (e) => redeliver(e.currentTarget, w.name) }, `Redeliver every parked event of ${w.name}`))
      : null)));
}

function cacheRulesSection(rules) {
  if (!rules.length) return h('p', { class: 'muted' }, 'No pull-through cache rules (ocireg cache-rule add).');
  return h('div', { class: 'table-wrap' }, h('table', { id: 'cache-rules' },
    h('thead', {}, h('tr', {}, h('th', {}, 'Prefix'), h('th', {}, 'Upstream'), h('th', {}, 'Upstream prefix'), h('th', { class: 'num' }, 'TTL'), h('th', {}, 'Credentials'))),
    h('tbody', {}, rules.map((r) => h('tr', {},
      h('td', { class: 'mono' }, r.prefix), h('td', { class: 'mono' }, r.upstreamUrl),
      h('td', { class: 'mono' }, r.upstreamPrefix || h('span', { class: 'muted' }, 'none')),
      h('td', { class: 'num' }, duration(r.ttlSeconds)), h('td', {}, r.credentials ? 'set' : h('span', { class: 'muted' }, 'anonymous')))))));
}

function replicationSection(rep) {
  const rules = rep.rules.length ? h('div', { class: 'table-wrap' }, h('table', { id: 'replication-rules' },
    h('thead', {}, h('tr', {}, h('th', { class: 'num' }, 'Rule'), h('th', {}, 'Repositories'), h('th', {}, 'Destinations'))),
    h('tbody', {}, rep.rules.map((r, i) => h('tr', {},
      h('td', { class: 'num' }, i + 1),
      h('td', {}, r.filters.length ? r.filters.map((f) => h('div', {}, 'starting with ', h('code', {}, f.filter))) : h('span', { class: 'muted' }, 'every repository')),
      h('td', { class: 'mono' }, r.destinations.map((d) => h('div', {}, `${d.region} / ${d.registryId}`))))))))
    : h('p', { class: 'muted' }, 'No replication rules (aws ecr put-replication-configuration).');
  const dests = rep.destinations.length ? h('div', { class: 'table-wrap' }, h('table', { id: 'replication-destinations' },
    h('thead', {}, h('tr', {}, h('th', {}, 'Region'), h('th', {}, 'Registry id'), h('th', {}, 'Host'), h('th', {}, 'Credentials'))),
    h('tbody', {}, rep.destinations.map((d) => h('tr', {},
      h('td', { class: 'mono' }, d.region), h('td', { class: 'mono' }, d.registryId), h('td', { class: 'mono' }, d.host),
      h('td', {}, d.credentials ? 'set' : h('span', { class: 'muted' }, 'anonymous')))))))
    : h('p', { class: 'muted' }, 'No destinations (ocireg replication destination add).');
  return [rules, h('h3', {}, 'Destinations'), dests];
}

async function adminPage() {
  const a = await api('admin');
  const runs = a.gc.recent;
  show(h('h1', {}, 'Administration'),
    h('dl', { class: 'facts', id: 'admin-facts' },
      h('dt', {}, 'Storage used'), h('dd', {}, bytes(a.storageBytes)),
      h('dt', {}, 'Garbage collections'), h('dd', {}, `${a.gc.runs} run(s), ${a.gc.blobsDeleted} blob(s) deleted, ${bytes(a.gc.bytesFreed)} freed`),
      h('dt', {}, 'Last collection'), h('dd', {}, when(a.gc.lastFinishedAt))),
    h('h2', {}, 'Recent garbage collections'),
    runs.length ? h('div', { class: 'table-wrap' }, h('table', { id: 'gc-runs' },
      h('thead', {}, h('tr', {}, h('th', {}, 'Started'), h('th', { class: 'num' }, 'Took'), h('th', { class: 'num' }, 'Manifests'), h('th', { class: 'num' }, 'Blobs'), h('th', { class: 'num' }, 'Freed'), h('th', {}, 'Kind'))),
      h('tbody', {}, runs.map((r) => h('tr', {},
        h('td', {}, when(r.startedAt)), h('td', { class: 'num' }, `${r.finishedAt - r.startedAt} s`),
        h('td', { class: 'num' }, r.manifestsDeleted), h('td', { class: 'num' }, r.blobsDeleted),
        h('td', { class: 'num' }, bytes(r.bytesFreed)), h('td', {}, r.dryRun ? 'dry run' : 'run')))))) : h('p', { class: 'muted' }, 'No garbage collection has run yet.'),
    h('h2', {}, 'Outbox'), outboxFacts(a.outbox),
    h('h2', {}, 'Webhooks'), webhooksSection(a),
    h('h2', {}, 'Pull-through cache rules'), cacheRulesSection(a.cacheRules),
    h('h2', {}, 'Replication'), replicationSection(a.replication),
    h('h2', {}, 'Users and grants'),
    a.principals.length ? h('div', { class: 'table-wrap' }, h('table', { id: 'principals' },
      h('thead', {}, h('tr', {}, h('th', {}, 'Principal'), h('th', {}, 'Grants'))),
      h('tbody', {}, a.principals.map((p) => h('tr', {},
        h('td', {}, p.anonymous ? h('em', {}, 'anonymous (everyone)') : p.name),
        h('td', {}, p.grants.length ? p.grants.map((g) => h('div', {}, h('code', {}, g.pattern), ': ', g.actions)) : h('span', { class: 'muted' }, 'none'))))))) : h('p', { class: 'muted' }, 'No users: the registry is open.'),
    h('p', { class: 'muted' }, 'Users and grants are changed with ocireg user and ocireg grant.'));
}

// ---- start ----

async function start() {
  window.addEventListener('hashchange', route);
  $('skip').addEventListener('click', (event) => { event.preventDefault(); $('main').focus(); });
  await route();
}

start();
