/**
 * The HTML the provider serves: the login form, the new-password form and the
 * error page. Small, dependency-free, accessible: every field has a label and
 * an autocomplete hint, errors are announced (role="alert") and tied to the
 * fields they concern.
 */
const escapeHtml = (text: string): string =>
  text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

const STYLE = `
  body { margin: 0; min-height: 100vh; display: grid; place-items: center; background: #f3f4f6; color: #1a1a1a;
    font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; line-height: 1.5; }
  main { box-sizing: border-box; width: calc(100% - 2rem); max-width: 24rem; margin: 2rem 0; padding: 2rem;
    background: #fff; border: 1px solid #e5e7eb; border-radius: .75rem; box-shadow: 0 1px 3px rgb(0 0 0 / .08); }
  h1 { font-size: 1.4rem; margin: 0 0 1rem; }
  main > :last-child { margin-bottom: 0; }
  label { display: block; margin-top: 1rem; font-weight: 600; }
  input { width: 100%; box-sizing: border-box; padding: .6rem .75rem; margin-top: .25rem; font: inherit;
    border: 1px solid #6b7280; border-radius: .375rem; }
  input[aria-invalid="true"] { border-color: #b91c1c; }
  button { width: 100%; margin-top: 1.5rem; padding: .7rem 1rem; font: inherit; font-weight: 600; cursor: pointer;
    color: #fff; background: #1d4ed8; border: 0; border-radius: .375rem; }
  button:hover { background: #1e40af; }
  button.secondary { margin-top: .75rem; color: #1d4ed8; background: #fff; border: 1px solid #1d4ed8; }
  button.secondary:hover { background: #eff6ff; }
  .hint { margin: .25rem 0 0; font-size: .875rem; color: #4b5563; }
  .error { margin-top: 1rem; padding: .75rem; color: #7f1d1d; background: #fef2f2;
    border: 1px solid #fca5a5; border-left: 4px solid #b91c1c; border-radius: .375rem; }
  :focus-visible { outline: 3px solid #2563eb; outline-offset: 2px; }`;

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

export function loginPage(options: {
  action: string;
  request: string;
  clientName: string;
  email?: string;
  error?: string;
  /** A platform application's login asks which organization's account signs in. */
  askOrganization?: boolean;
  organization?: string;
  /** The platform's identity providers: one button each, posting provider=<id>. */
  providers?: readonly { id: string; name: string }[];
}): string {
  const providerButtons = (options.providers ?? [])
    .map((p) => `\n  <button type="submit" name="provider" value="${escapeHtml(p.id)}" formnovalidate class="secondary">Sign in with ${escapeHtml(p.name)}</button>`)
    .join('');
  const described = options.error ? ' aria-describedby="form-error" aria-invalid="true"' : '';
  const organizationField = options.askOrganization
    ? `
  <label for="organization">Organization</label>
  <input id="organization" name="organization" type="text" autocomplete="organization" required value="${escapeHtml(options.organization ?? '')}"${described}>`
    : '';
  return page(
    'Sign in',
    `<h1>Sign in to ${escapeHtml(options.clientName)}</h1>
${errorBlock(options.error)}
<form method="post" action="${escapeHtml(options.action)}" novalidate>
  <input type="hidden" name="state" value="${escapeHtml(options.request)}">${organizationField}
  <label for="email">Email</label>
  <input id="email" name="email" type="email" autocomplete="username" required value="${escapeHtml(options.email ?? '')}"${described}>
  <label for="password">Password</label>
  <input id="password" name="password" type="password" autocomplete="current-password"${options.error ? ' aria-describedby="form-error password-hint" aria-invalid="true"' : ' aria-describedby="password-hint"'}>
  <p id="password-hint" class="hint">If your organization signs in with its own account, leave the password empty.</p>
  <button type="submit">Sign in</button>${providerButtons}
</form>`,
  );
}

export function newPasswordPage(options: { action: string; request: string; ticket: string; error?: string }): string {
  const described = options.error ? ' aria-describedby="form-error" aria-invalid="true"' : ' aria-describedby="password-rules"';
  return page(
    'Choose a new password',
    `<h1>Choose a new password</h1>
<p id="password-rules">Your password was reset by an administrator. Choose a new one that meets your organization's password policy.</p>
${errorBlock(options.error)}
<form method="post" action="${escapeHtml(options.action)}" novalidate>
  <input type="hidden" name="state" value="${escapeHtml(options.request)}">
  <input type="hidden" name="ticket" value="${escapeHtml(options.ticket)}">
  <label for="new-password">New password</label>
  <input id="new-password" name="new_password" type="password" autocomplete="new-password" required minlength="8"${described}>
  <label for="confirm-password">Repeat the new password</label>
  <input id="confirm-password" name="confirm_password" type="password" autocomplete="new-password" required minlength="8"${described}>
  <button type="submit">Save and continue</button>
</form>`,
  );
}

export function errorPage(title: string, message: string): string {
  return page(title, `<h1>${escapeHtml(title)}</h1>\n<p role="alert">${escapeHtml(message)}</p>`);
}
