"""The full Plan/Do/Check/Act record of a kaizen cycle, its stored Check and its comments.

On SQLite, adding NOT NULL columns with defaults and adding constraints rebuild
``kaizen_kaizencycle``, which drops its triggers: the last operations install every rule of
``kaizen.rules`` again (the same-stream rule of 0002). On PostgreSQL the rebuild does not
happen and re-creating the triggers is harmless. (A first version of this migration also
installed a "no Act before Check" trigger; 0005 replaces it with a CHECK constraint.)

Rows stored before are fitted to the new constraints by 0003, in a transaction of its own
(PostgreSQL refuses to alter a table with pending trigger events from updated rows).
"""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

from kaizen.rules import RULES, reinstall


class Migration(migrations.Migration):

    dependencies = [
        ('kaizen', '0003_fit_stored_cycles'),
        ('streams', '0003_map_editing'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        # First as well as last: unapplying runs the operations backwards, and the rebuilds
        # between drop the triggers again.
        *[reinstall(rule) for rule in RULES],
        migrations.CreateModel(
            name='CycleCheck',
            fields=[
                ('cycle', models.OneToOneField(on_delete=django.db.models.deletion.CASCADE, primary_key=True, related_name='check_result', serialize=False, to='kaizen.kaizencycle')),
                ('computed_at', models.DateTimeField()),
                ('metric', models.CharField(choices=[('time_in_step', 'Time in step'), ('pct_complete_accurate', '%C&A (complete and accurate)'), ('conversion', 'Step conversion (not lost at the step)'), ('sales_cycle', 'Sales cycle'), ('win_rate', 'Win rate')], max_length=24)),
                ('baseline_start', models.DateTimeField()),
                ('change_at', models.DateTimeField()),
                ('after_end', models.DateTimeField(help_text='change + L, or the time of the Check if sooner.')),
                ('n_before', models.PositiveIntegerField()),
                ('n_after', models.PositiveIntegerField()),
                ('value_before', models.FloatField(blank=True, null=True)),
                ('value_after', models.FloatField(blank=True, null=True)),
                ('effect', models.FloatField(blank=True, help_text='Durations: relative change of the medians; proportions: the difference.', null=True)),
                ('p_value', models.FloatField(blank=True, null=True)),
                ('statistic', models.FloatField(blank=True, help_text="U, or Fisher's odds ratio.", null=True)),
                ('verdict', models.CharField(choices=[('improved', 'Improved'), ('worse', 'Worse'), ('inconclusive', 'Inconclusive'), ('insufficient_data', 'Insufficient data')], max_length=17)),
                ('needed_before', models.PositiveIntegerField(default=0)),
                ('needed_after', models.PositiveIntegerField(default=0)),
                ('series', models.JSONField(blank=True, default=dict)),
            ],
        ),
        migrations.CreateModel(
            name='CycleComment',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('body', models.TextField()),
                ('created_at', models.DateTimeField(auto_now_add=True)),
            ],
            options={
                'ordering': ['created_at', 'id'],
            },
        ),
        migrations.RemoveConstraint(
            model_name='kaizencycle',
            name='kaizen_check_needs_change_date',
        ),
        migrations.AddField(
            model_name='kaizencycle',
            name='adopted_standard',
            field=models.JSONField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name='kaizencycle',
            name='baseline_end',
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name='kaizencycle',
            name='baseline_n',
            field=models.PositiveIntegerField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name='kaizencycle',
            name='baseline_start',
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name='kaizencycle',
            name='baseline_value',
            field=models.FloatField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name='kaizencycle',
            name='change_description',
            field=models.TextField(blank=True),
        ),
        migrations.AddField(
            model_name='kaizencycle',
            name='countermeasure',
            field=models.TextField(blank=True),
        ),
        migrations.AddField(
            model_name='kaizencycle',
            name='current_condition',
            field=models.TextField(blank=True),
        ),
        migrations.AddField(
            model_name='kaizencycle',
            name='decision_notes',
            field=models.TextField(blank=True, help_text='The new standard, what changes in the follow-up, or why abandoned.'),
        ),
        migrations.AddField(
            model_name='kaizencycle',
            name='direction',
            field=models.CharField(choices=[('decrease', 'Lower is the aim'), ('increase', 'Higher is the aim')], default='decrease', max_length=8),
        ),
        migrations.AddField(
            model_name='kaizencycle',
            name='do_notes',
            field=models.TextField(blank=True),
        ),
        migrations.AddField(
            model_name='kaizencycle',
            name='follow_up_of',
            field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='follow_ups', to='kaizen.kaizencycle'),
        ),
        migrations.AddField(
            model_name='kaizencycle',
            name='metric',
            field=models.CharField(choices=[('time_in_step', 'Time in step'), ('pct_complete_accurate', '%C&A (complete and accurate)'), ('conversion', 'Step conversion (not lost at the step)'), ('sales_cycle', 'Sales cycle'), ('win_rate', 'Win rate')], default='time_in_step', max_length=24),
        ),
        migrations.AddField(
            model_name='kaizencycle',
            name='outcome',
            field=models.CharField(blank=True, choices=[('adopted', 'Adopted as the new standard'), ('adapted', 'Adapted: a follow-up cycle'), ('abandoned', 'Abandoned')], help_text='Empty until decided.', max_length=9),
        ),
        migrations.AddField(
            model_name='kaizencycle',
            name='prediction',
            field=models.TextField(blank=True),
        ),
        migrations.AddField(
            model_name='kaizencycle',
            name='proposed_by',
            field=models.ForeignKey(blank=True, help_text='Who wrote the plan (a rep may propose a cycle).', null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL),
        ),
        migrations.AddField(
            model_name='kaizencycle',
            name='root_cause',
            field=models.TextField(blank=True, help_text='Five whys.'),
        ),
        migrations.AddField(
            model_name='kaizencycle',
            name='target_value',
            field=models.FloatField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name='kaizencycle',
            name='window_days',
            field=models.PositiveSmallIntegerField(default=56, help_text='L: the Check compares the L days before the change with after.'),
        ),
        migrations.AddIndex(
            model_name='kaizencycle',
            index=models.Index(fields=['stream', 'phase'], name='kaizen_stream_phase'),
        ),
        migrations.AddConstraint(
            model_name='kaizencycle',
            constraint=models.CheckConstraint(condition=models.Q(('metric__in', ['time_in_step', 'pct_complete_accurate', 'conversion', 'sales_cycle', 'win_rate'])), name='kaizen_metric_valid'),
        ),
        migrations.AddConstraint(
            model_name='kaizencycle',
            constraint=models.CheckConstraint(condition=models.Q(('direction__in', ['decrease', 'increase'])), name='kaizen_direction_valid'),
        ),
        migrations.AddConstraint(
            model_name='kaizencycle',
            constraint=models.CheckConstraint(condition=models.Q(('phase', 'plan'), ('change_date__isnull', False), _connector='OR'), name='kaizen_do_needs_change_date'),
        ),
        migrations.AddConstraint(
            model_name='kaizencycle',
            constraint=models.CheckConstraint(condition=models.Q(('outcome', ''), models.Q(('outcome__in', ['adopted', 'adapted', 'abandoned']), ('phase', 'closed')), _connector='OR'), name='kaizen_outcome_only_when_closed'),
        ),
        migrations.AddConstraint(
            model_name='kaizencycle',
            constraint=models.CheckConstraint(condition=models.Q(models.Q(('outcome', 'abandoned'), _negated=True), models.Q(('decision_notes', ''), _negated=True), _connector='OR'), name='kaizen_abandon_has_reason'),
        ),
        migrations.AddConstraint(
            model_name='kaizencycle',
            constraint=models.CheckConstraint(condition=models.Q(('window_days__gte', 7), ('window_days__lte', 366)), name='kaizen_window_7_366_days'),
        ),
        migrations.AddConstraint(
            model_name='kaizencycle',
            constraint=models.CheckConstraint(condition=models.Q(('target_date__isnull', True), ('target_date__gte', models.F('planned_on')), _connector='OR'), name='kaizen_target_not_before_plan'),
        ),
        migrations.AddConstraint(
            model_name='kaizencycle',
            constraint=models.CheckConstraint(condition=models.Q(('change_date__isnull', True), ('change_date__gte', models.F('planned_on')), _connector='OR'), name='kaizen_change_not_before_plan'),
        ),
        migrations.AddConstraint(
            model_name='kaizencycle',
            constraint=models.CheckConstraint(condition=models.Q(('closed_on__isnull', True), ('change_date__isnull', True), ('closed_on__gte', models.F('change_date')), _connector='OR'), name='kaizen_closed_not_before_change'),
        ),
        migrations.AddConstraint(
            model_name='cyclecheck',
            constraint=models.CheckConstraint(condition=models.Q(('verdict__in', ['improved', 'worse', 'inconclusive', 'insufficient_data'])), name='kaizen_check_verdict_valid'),
        ),
        migrations.AddConstraint(
            model_name='cyclecheck',
            constraint=models.CheckConstraint(condition=models.Q(('p_value__isnull', True), models.Q(('p_value__gte', 0), ('p_value__lte', 1)), _connector='OR'), name='kaizen_check_p_value_0_1'),
        ),
        migrations.AddConstraint(
            model_name='cyclecheck',
            constraint=models.CheckConstraint(condition=models.Q(('after_end__gte', models.F('change_at')), ('change_at__gt', models.F('baseline_start'))), name='kaizen_check_windows_ordered'),
        ),
        migrations.AddField(
            model_name='cyclecomment',
            name='author',
            field=models.ForeignKey(null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL),
        ),
        migrations.AddField(
            model_name='cyclecomment',
            name='cycle',
            field=models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='comments', to='kaizen.kaizencycle'),
        ),
        migrations.AddConstraint(
            model_name='cyclecomment',
            constraint=models.CheckConstraint(condition=models.Q(('body', ''), _negated=True), name='kaizen_comment_not_empty'),
        ),
        *[reinstall(rule) for rule in RULES],
    ]
