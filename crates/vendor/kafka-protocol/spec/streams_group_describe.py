"""StreamsGroupDescribe (KIP-1071, API key 89) v0 from Kafka's message spec, as data; run with python3
to regenerate src/messages/streams_group_describe_{request,response}.rs. PATCHED (lagring)."""
import pathlib
import sys
sys.path.insert(0, str(pathlib.Path(__file__).parent))
from generate_flexible_v0 import message

def F(name, type, about, **kw):
    d = {'name': name, 'type': type, 'about': about}
    d.update(kw)
    return d

request = {'name': 'StreamsGroupDescribeRequest', 'header': 2, 'fields': [
    F('GroupIds', '[]string', 'The ids of the groups to describe', entity='groupId'),
    F('IncludeAuthorizedOperations', 'bool', 'Whether to include authorized operations.'),
]}
topic_info = [
    F('Name', 'string', 'The name of the topic.'),
    F('Partitions', 'int32', 'The number of partitions in the topic. Can be 0 if no specific number of partitions is enforced. Always 0 for changelog topics.'),
    F('ReplicationFactor', 'int16', 'The replication factor of the topic. Can be 0 if the default replication factor should be used.'),
    F('TopicConfigs', '[]KeyValue', 'Topic-level configurations as key-value pairs.'),
]
response = {'name': 'StreamsGroupDescribeResponse', 'header': 1, 'fields': [
    F('ThrottleTimeMs', 'int32', 'The duration in milliseconds for which the request was throttled due to a quota violation, or zero if the request did not violate any quota.'),
    F('Groups', '[]DescribedGroup', 'Each described group.', fields=[
        F('ErrorCode', 'int16', 'The describe error, or 0 if there was no error.'),
        F('ErrorMessage', 'string', 'The top-level error message, or null if there was no error.', nullable=True, default='null'),
        F('GroupId', 'string', 'The group ID string.', entity='groupId'),
        F('GroupState', 'string', 'The group state string, or the empty string.'),
        F('GroupEpoch', 'int32', 'The group epoch.'),
        F('AssignmentEpoch', 'int32', 'The assignment epoch.'),
        F('Topology', 'Topology', 'The topology metadata currently initialized for the streams application. Can be null in case of a describe error.', nullable=True, default='null', fields=[
            F('Epoch', 'int32', 'The epoch of the currently initialized topology for this group.'),
            F('Subtopologies', '[]Subtopology', 'The subtopologies of the streams application. This contains the configured subtopologies, where the number of partitions are set and any regular expressions are resolved to actual topics. Null if the group is uninitialized, source topics are missing or incorrectly partitioned.', nullable=True, default='null', fields=[
                F('SubtopologyId', 'string', 'String to uniquely identify the subtopology.'),
                F('SourceTopics', '[]string', 'The topics the subtopology reads from.'),
                F('RepartitionSinkTopics', '[]string', 'The repartition topics the subtopology writes to.'),
                F('StateChangelogTopics', '[]TopicInfo', 'The set of state changelog topics associated with this subtopology. Created automatically.'),
                F('RepartitionSourceTopics', '[]TopicInfo', 'The set of source topics that are internally created repartition topics. Created automatically.'),
            ]),
        ]),
        F('Members', '[]Member', 'The members.', fields=[
            F('MemberId', 'string', 'The member ID.'),
            F('MemberEpoch', 'int32', 'The member epoch.'),
            F('InstanceId', 'string', 'The member instance ID for static membership.', nullable=True, default='null'),
            F('RackId', 'string', 'The rack ID.', nullable=True, default='null'),
            F('ClientId', 'string', 'The client ID.'),
            F('ClientHost', 'string', 'The client host.'),
            F('TopologyEpoch', 'int32', 'The epoch of the topology on the client.'),
            F('ProcessId', 'string', 'Identity of the streams instance that may have multiple clients.'),
            F('UserEndpoint', 'Endpoint', 'User-defined endpoint for Interactive Queries. Null if not defined for this client.', nullable=True, default='null'),
            F('ClientTags', '[]KeyValue', 'Used for rack-aware assignment algorithm.'),
            F('TaskOffsets', '[]TaskOffset', 'Cumulative changelog offsets for tasks.'),
            F('TaskEndOffsets', '[]TaskOffset', 'Cumulative changelog end offsets for tasks.'),
            F('Assignment', 'Assignment', 'The current assignment.'),
            F('TargetAssignment', 'Assignment', 'The target assignment.'),
            F('IsClassic', 'bool', 'True for classic members that have not been upgraded yet.'),
        ]),
        F('AuthorizedOperations', 'int32', '32-bit bitfield to represent authorized operations for this group.', default='-2147483648'),
    ]),
], 'commonStructs': [
    {'name': 'Endpoint', 'fields': [F('Host', 'string', 'host of the endpoint'), F('Port', 'uint16', 'port of the endpoint')]},
    {'name': 'TaskOffset', 'fields': [F('SubtopologyId', 'string', 'The subtopology identifier.'), F('Partition', 'int32', 'The partition.'), F('Offset', 'int64', 'The offset.')]},
    {'name': 'TopicPartitions', 'fields': [F('TopicId', 'uuid', 'The topic ID.'), F('TopicName', 'string', 'The topic name.', entity='topicName'), F('Partitions', '[]int32', 'The partitions.')]},
    {'name': 'Assignment', 'fields': [F('ActiveTasks', '[]TaskIds', 'Active tasks for this client.'), F('StandbyTasks', '[]TaskIds', 'Standby tasks for this client.'), F('WarmupTasks', '[]TaskIds', 'Warm-up tasks for this client.')]},
    {'name': 'TaskIds', 'fields': [F('SubtopologyId', 'string', 'The subtopology identifier.'), F('Partitions', '[]int32', 'The partitions of the input topics processed by this member.')]},
    {'name': 'KeyValue', 'fields': [F('Key', 'string', 'key of the config'), F('Value', 'string', 'value of the config')]},
    {'name': 'TopicInfo', 'fields': topic_info},
]}
d = str(pathlib.Path(__file__).parent.parent / 'src' / 'messages') + '/'
open(d + 'streams_group_describe_request.rs', 'w').write(message(request, 'client', 'broker'))
open(d + 'streams_group_describe_response.rs', 'w').write(message(response, 'broker', 'client'))
