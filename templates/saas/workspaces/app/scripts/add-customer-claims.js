// Post-authentication extension for {{ vars.customer_name }} ({{ tenant.id }}, {{ env.name }}).
// The Acme Cloud API is multi-tenant: every token must say which customer and
// plan it belongs to, so that the API can enforce the plan's limits.
const CUSTOMER = '{{ tenant.key }}';
const PLAN = '{{ vars.plan }}';
const SEATS = {{ vars.seats }};
const CUSTOMER_DOMAIN = '{{ vars.domain }}';

module.exports = async function (context) {
  const authn = context.authn_ctx || {};
  const email = String(authn.email || '').toLowerCase();

  return {
    authn_ctx: {
      ...authn,
      email,
      customer: CUSTOMER,
      plan: PLAN,
      seat_limit: SEATS,
      external_user: !email.endsWith('@' + CUSTOMER_DOMAIN),
    },
  };
};
