// Post-authentication extension of the Acme account IDP ({{ tenant.id }}, {{ env.name }}).
// Adds the current loyalty tier to the authentication context so that it can be
// issued as the loyalty_tier claim. The loyalty service is best effort: when it
// is slow or down, the tier stored in the pool metadata is used instead.
const LOYALTY_ENABLED = {{ vars.features.loyalty_program }};
const LOYALTY_API = '{{ vars.loyalty_api_url }}';
const TIMEOUT_MS = 800;
const TIERS = ['bronze', 'silver', 'gold', 'platinum'];

async function fetchTier(customerId) {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), TIMEOUT_MS);
  try {
    const res = await fetch(`${LOYALTY_API}/members/${encodeURIComponent(customerId)}/tier`, {
      headers: { accept: 'application/json' },
      signal: controller.signal,
    });
    if (!res.ok) {
      return null;
    }
    const body = await res.json();
    return TIERS.includes(body.tier) ? body.tier : null;
  } catch (err) {
    return null;
  } finally {
    clearTimeout(timer);
  }
}

module.exports = async function (context) {
  const authn = context.authn_ctx || {};
  const stored = TIERS.includes(authn.loyalty_tier) ? authn.loyalty_tier : 'bronze';

  if (!LOYALTY_ENABLED || !authn.customer_id) {
    return { authn_ctx: { ...authn, loyalty_tier: stored } };
  }

  const live = await fetchTier(authn.customer_id);
  return {
    authn_ctx: {
      ...authn,
      loyalty_tier: live || stored,
      loyalty_tier_source: live ? 'loyalty-service' : 'pool-metadata',
    },
  };
};
