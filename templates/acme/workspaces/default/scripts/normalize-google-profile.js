// Post-authentication extension of the Google IDP ({{ tenant.id }}, {{ env.name }}).
// Google may return mixed-case addresses and unverified e-mails for consumer
// accounts; both would create duplicate or hijackable shopper accounts.
module.exports = async function (context) {
  const authn = context.authn_ctx || {};
  const email = String(authn.email || '').trim().toLowerCase();

  if (!email) {
    throw new Error('Google did not return an e-mail address for this account');
  }
  if (authn.email_verified !== true && authn.email_verified !== 'true') {
    throw new Error('Please verify your e-mail address with Google before signing in to Acme');
  }

  const name = [authn.given_name, authn.family_name]
    .filter((part) => typeof part === 'string' && part.trim() !== '')
    .join(' ');

  return {
    authn_ctx: {
      ...authn,
      email,
      email_verified: true,
      name: name || email,
      login_source: 'google',
    },
  };
};
