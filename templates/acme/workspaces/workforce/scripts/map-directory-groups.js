// Post-authentication extension of the workforce IDPs ({{ tenant.id }}, {{ env.name }}).
// Entra ID returns security group names (contractors carry them in the pool
// payload); the back office only understands its own role names.
const GROUP_ROLES = {
  'SG-Backoffice-Admins': 'backoffice_admin',
  'SG-Customer-Care': 'customer_care',
  'SG-Customer-Care-Leads': 'refund_approver',
  'SG-Catalogue-Editors': 'catalogue_editor',
  'SG-Finance': 'finance_viewer',
};

// Groups that are only honoured outside production, for testers.
const NON_PROD_GROUP_ROLES = {
  'SG-QA-Testers': 'backoffice_admin',
};

module.exports = async function (context) {
  const authn = context.authn_ctx || {};
  const groups = Array.isArray(authn.groups) ? authn.groups : [];
  const table = '{{ env.name }}' === 'prod' ? GROUP_ROLES : { ...GROUP_ROLES, ...NON_PROD_GROUP_ROLES };

  const roles = [...new Set(groups.map((g) => table[g]).filter(Boolean))].sort();

  if (roles.length === 0) {
    throw new Error('Your account has no back-office role. Ask your manager to request access.');
  }

  return {
    authn_ctx: {
      ...authn,
      email: String(authn.email || '').toLowerCase(),
      roles,
      is_admin: roles.includes('backoffice_admin'),
    },
  };
};
