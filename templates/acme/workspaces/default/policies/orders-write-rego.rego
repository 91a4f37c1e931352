package acp.authz

import future.keywords.if
import future.keywords.in

# Orders API write rules ({{ env.name }}):
# - creating an order needs orders.write and a shopper token (sub = customer);
#   orders above the threshold also need a second factor in the session;
# - cancelling is allowed to the shopper who owns the order, or to services
#   holding orders.fulfill (fulfillment worker, customer care tools).

default allow := false

large_order_threshold := {{ vars.orders.large_order_threshold }}

scopes := split(object.get(input.token, "scope", ""), " ")

has_scope(s) if s in scopes

is_shopper if input.token.sub == input.token.customer_id

mfa_done if "mfa" in object.get(input.token, "amr", [])

large_order if to_number(input.request.body.total_amount) >= large_order_threshold

allow if {
	input.request.method == "POST"
	has_scope("orders.write")
	is_shopper
	not large_order
}

allow if {
	input.request.method == "POST"
	has_scope("orders.write")
	is_shopper
	large_order
	mfa_done
}

allow if {
	input.request.method == "DELETE"
	has_scope("orders.write")
	is_shopper
	input.request.path_params.id in object.get(input.token, "order_ids", [])
}

allow if {
	input.request.method == "DELETE"
	has_scope("orders.fulfill")
}
