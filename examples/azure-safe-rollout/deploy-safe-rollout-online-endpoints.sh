#!/usr/bin/env bash
# Safe rollout of a new model version behind one online endpoint, written for the Azure CLI
# (`az ml`), as Azure's samples write it. berth runs it with `az ml` replaced by `berth`.
set -e

ENDPOINT_NAME=${ENDPOINT_NAME:-my-endpoint}
RESOURCE_GROUP=${RESOURCE_GROUP:-my-resource-group}
WORKSPACE=${WORKSPACE:-my-workspace}
SAMPLE=endpoints/online/managed/sample

# Create the endpoint and the blue deployment with all the traffic.
az ml online-endpoint create --name $ENDPOINT_NAME -f $SAMPLE/endpoint.yml -g $RESOURCE_GROUP -w $WORKSPACE
az ml online-deployment create --name blue --endpoint-name $ENDPOINT_NAME -f $SAMPLE/blue-deployment.yml --all-traffic -g $RESOURCE_GROUP -w $WORKSPACE

# Check the endpoint and the deployment, as scripts poll them.
endpoint_status=$(az ml online-endpoint show --name $ENDPOINT_NAME --query "provisioning_state" -o tsv)
echo "endpoint: $endpoint_status"
if [[ $endpoint_status != "Succeeded" ]]; then
  echo "Endpoint creation failed"
  exit 1
fi
deploy_status=$(az ml online-deployment show --name blue --endpoint $ENDPOINT_NAME --query "provisioning_state" -o tsv)
echo "blue: $deploy_status"
if [[ $deploy_status != "Succeeded" ]]; then
  echo "Deployment failed"
  exit 1
fi

az ml online-endpoint invoke --name $ENDPOINT_NAME --request-file endpoints/online/model-1/sample-request.json

# Scale blue, then add green with no traffic.
az ml online-deployment update --name blue --endpoint-name $ENDPOINT_NAME --set instance_count=2
az ml online-deployment create --name green --endpoint-name $ENDPOINT_NAME -f $SAMPLE/green-deployment.yml --skip-script-validation
az ml online-endpoint show -n $ENDPOINT_NAME --query traffic

# Poll until green is ready (it already is: create waits), as scripts written for --no-wait do.
while [[ $(az ml online-deployment show -n green -e $ENDPOINT_NAME --query provisioning_state -o tsv) != "Succeeded" ]]; do
  sleep 1
done

# Test green directly, then mirror 10 % of the live traffic to it.
az ml online-endpoint invoke --name $ENDPOINT_NAME --deployment-name green --request-file endpoints/online/model-2/sample-request.json
az ml online-deployment get-logs --name green --endpoint-name $ENDPOINT_NAME --lines 20
az ml online-endpoint update --name $ENDPOINT_NAME --mirror-traffic "green=10"
for i in {1..10}; do
  az ml online-endpoint invoke --name $ENDPOINT_NAME --request-file endpoints/online/model-1/sample-request.json -o none
done
az ml online-endpoint update --name $ENDPOINT_NAME --mirror-traffic "green=0"

# Send 10 % of the live traffic to green, with curl and the key, as a client would.
az ml online-endpoint update --name $ENDPOINT_NAME --traffic "blue=90 green=10"
ENDPOINT_KEY=$(az ml online-endpoint get-credentials -n $ENDPOINT_NAME -o tsv --query primaryKey)
SCORING_URI=$(az ml online-endpoint show -n $ENDPOINT_NAME -o tsv --query scoring_uri)
for i in {1..10}; do
  curl --fail --silent --show-error --request POST "$SCORING_URI" \
    --header "Authorization: Bearer $ENDPOINT_KEY" --header 'Content-Type: application/json' \
    --data @endpoints/online/model-1/sample-request.json
  echo
done
az ml online-deployment get-logs --name green --endpoint-name $ENDPOINT_NAME --container inference-server

# All traffic to green; retire blue and, at the end, the endpoint.
az ml online-endpoint update --name $ENDPOINT_NAME --traffic "blue=0 green=100"
az ml online-endpoint show -n $ENDPOINT_NAME --query "traffic" -o table
az ml online-deployment delete --name blue --endpoint $ENDPOINT_NAME --yes
az ml online-endpoint delete --name $ENDPOINT_NAME --yes --no-wait
