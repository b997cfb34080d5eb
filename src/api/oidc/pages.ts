/**
 * The HTML the provider serves: the login form, the new-password form and the
 * error page. Small, dependency-free, accessible: every field has a label and
 * an autocomplete hint, errors are announced (role="alert") and tied to the
 * fields they concern.
 */
const escapeHtml = (text: string): string =>
  text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

const STYLE = `
  body { font-family: system-ui, sans-serif; max-width: 24rem; margin: 4rem auto; padding: 0 1rem; color: #1a1a1a; }
  h1 { font-size: 1.4rem; }
  label { display: block; margin-top: 1rem; font-weight: 600; }
  input { width: 100%; box-sizing: border-box; padding: .5rem; margin-top: .25rem; font-size: 1rem; }
  button { margin-top: 1.5rem; padding: .6rem 1.2rem; font-size: 1rem; }
  .error { background: #fde8e8; border: 1px solid #c81e1e; padding: .75rem; margin-top: 1rem; }
  :focus { outline: 3px solid #2563eb; outline-offset: 2px; }`;

function page(title: string, body: string): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>${escapeHtml(title)}</title>
<style>${STYLE}</style>
</head>
<body>
<main>
${body}
</main>
</body>
</html>`;
}

const errorBlock = (error: string | undefined) =>
  error ? `<div class="error" id="form-error" role="alert">${escapeHtml(error)}</div>` : '';

export function loginPage(options: { action: string; request: string; clientName: string; email?: string; error?: string }): string {
  const described = options.error ? ' aria-describedby="form-error" aria-invalid="true"' : '';
  return page(
    'Sign in',
    `<h1>Sign in to ${escapeHtml(options.clientName)}</h1>
${errorBlock(options.error)}
<form method="post" action="${escapeHtml(options.action)}" novalidate>
  <input type="hidden" name="state" value="${escapeHtml(options.request)}">
  <label for="email">Email</label>
  <input id="email" name="email" type="email" autocomplete="username" required value="${escapeHtml(options.email ?? '')}"${described}>
  <label for="password">Password</label>
  <input id="password" name="password" type="password" autocomplete="current-password" required${described}>
  <button type="submit">Sign in</button>
</form>`,
  );
}

export function newPasswordPage(options: { action: string; request: string; ticket: string; error?: string }): string {
  const described = options.error ? ' aria-describedby="form-error" aria-invalid="true"' : ' aria-describedby="password-rules"';
  return page(
    'Choose a new password',
    `<h1>Choose a new password</h1>
<p id="password-rules">Your password was reset by an administrator. Choose a new one of at least 12 characters.</p>
${errorBlock(options.error)}
<form method="post" action="${escapeHtml(options.action)}" novalidate>
  <input type="hidden" name="state" value="${escapeHtml(options.request)}">
  <input type="hidden" name="ticket" value="${escapeHtml(options.ticket)}">
  <label for="new-password">New password</label>
  <input id="new-password" name="new_password" type="password" autocomplete="new-password" required minlength="12"${described}>
  <label for="confirm-password">Repeat the new password</label>
  <input id="confirm-password" name="confirm_password" type="password" autocomplete="new-password" required minlength="12"${described}>
  <button type="submit">Save and continue</button>
</form>`,
  );
}

export function errorPage(title: string, message: string): string {
  return page(title, `<h1>${escapeHtml(title)}</h1>\n<p role="alert">${escapeHtml(message)}</p>`);
}
